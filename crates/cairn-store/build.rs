// `sqlx::migrate!` embeds the migration folders at compile time; without this, a new migration
// file alone would not rebuild the crate and a cached build would ship without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
