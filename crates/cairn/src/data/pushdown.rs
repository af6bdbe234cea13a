//! `cairn data validate --suite s.yaml postgresql://... --table schema.name`: the suite runs as SQL
//! on the server (see `cairn_data::sql`), so the rows never leave the database.

use cairn_data::source::postgres::{self, PostgresInput};
use cairn_data::spill::MemoryBudget;
use cairn_data::suite::Suite;
use cairn_data::validate::Validation;
use clap::Args;

/// Flags that only apply to a `postgresql://` DATA.
#[derive(Debug, Clone, Default, Args)]
pub struct PostgresArgs {
    /// With a postgresql:// DATA: the table or view to validate (`name` or `schema.name`).
    #[arg(long, value_name = "SCHEMA.NAME", conflicts_with = "query")]
    table: Option<String>,
    /// With a postgresql:// DATA: validate the rows of this SELECT instead of a table.
    #[arg(long, value_name = "SQL")]
    query: Option<String>,
    /// With a postgresql:// DATA: the column that orders the rows (increasing/decreasing checks need
    /// one; examples are numbered in this order).
    #[arg(long, value_name = "COLUMN")]
    order_by: Option<String>,
}

/// Whether DATA goes to PostgreSQL (the PostgreSQL flags without such a DATA are a usage error).
pub fn applies(data: &str, args: &PostgresArgs) -> anyhow::Result<bool> {
    if postgres::is_postgres_url(data) {
        return Ok(true);
    }
    if args.table.is_some() || args.query.is_some() || args.order_by.is_some() {
        anyhow::bail!("--table, --query and --order-by need a postgresql:// DATA");
    }
    Ok(false)
}

pub fn validate(
    suite: &Suite,
    data: &str,
    args: &PostgresArgs,
    memory: &MemoryBudget,
) -> anyhow::Result<Validation> {
    let input = PostgresInput {
        url: data.trim().to_string(),
        table: args.table.clone(),
        query: args.query.clone(),
        order_by: args.order_by.clone(),
    };
    Ok(postgres::validate(suite, &input, memory)?)
}
