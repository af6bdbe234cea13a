use serde_json::json;

use super::*;

fn columns() -> Vec<DbColumn> {
    vec![
        DbColumn::new("id", "INT4"),
        DbColumn::new("amount", "FLOAT8"),
        DbColumn::new("name", "TEXT"),
        DbColumn::new("flag", "BOOL"),
        DbColumn::new("we\"ird", "TEXT"),
    ]
}

fn table() -> Relation {
    Relation::Table {
        schema: Some("public".into()),
        name: "orders".into(),
    }
}

fn suite(configs: Vec<ExpectationConfig>) -> Suite {
    Suite {
        version: 1,
        name: "t".into(),
        description: None,
        expectations: configs,
        meta: serde_json::Map::new(),
    }
}

fn compiled(configs: Vec<ExpectationConfig>, order_by: Option<&str>) -> Compiled {
    compile(&suite(configs), &table(), &columns(), order_by, &[]).unwrap()
}

/// The select-list item the expectation added to the aggregate query (its last one).
fn check_item(config: ExpectationConfig, expected: &str) {
    let compiled = compiled(vec![config.clone()], None);
    let item = compiled.select.last().unwrap();
    assert_eq!(item, expected, "{config:?}");
}

#[test]
fn identifiers_and_literals_cannot_inject() {
    assert_eq!(quote_ident("a"), "\"a\"");
    assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    assert_eq!(
        quote_ident("x\"; DROP TABLE t; --"),
        "\"x\"\"; DROP TABLE t; --\""
    );
    assert_eq!(literal("it's").unwrap(), "'it''s'");
    assert_eq!(literal(r"\d+'").unwrap(), r"E'\\d+'''");
    assert_eq!(literal("plain").unwrap(), "'plain'");
    assert!(literal("nul\0").is_err());
    assert_eq!(float_literal(1.5), "'1.5'::float8");
    assert_eq!(float_literal(-0.1), "'-0.1'::float8");
    assert_eq!(float_literal(1e300), format!("'{:?}'::float8", 1e300));
    assert_eq!(float_literal(f64::NAN), "'NaN'::float8");
    assert_eq!(float_literal(f64::NEG_INFINITY), "'-Infinity'::float8");
}

#[test]
fn tables_parse_like_postgres_names() {
    let check = |text: &str, schema: Option<&str>, name: &str| {
        assert_eq!(
            Relation::parse_table(text).unwrap(),
            Relation::Table {
                schema: schema.map(str::to_string),
                name: name.to_string()
            },
            "{text}"
        );
    };
    check("orders", None, "orders");
    check("Public.Orders", Some("public"), "orders");
    check(
        "\"My.Schema\".\"Or\"\"ders\"",
        Some("My.Schema"),
        "Or\"ders",
    );
    for bad in ["", "a.b.c", "a.", "\"open", "\"a\"x"] {
        assert!(Relation::parse_table(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        table().from_item(),
        "\"public\".\"orders\" AS \"__cairn_src\""
    );
    assert_eq!(
        Relation::Query("SELECT 1;".into()).from_item(),
        "(SELECT 1\n) AS \"__cairn_src\""
    );
}

#[test]
fn types_map_to_classes_and_pandas_dtypes() {
    let check = |name: &str, class: TypeClass| assert_eq!(TypeClass::of(name), class, "{name}");
    check("INT8", TypeClass::Int);
    check("FLOAT4", TypeClass::Float);
    check("NUMERIC", TypeClass::Numeric);
    check("BOOL", TypeClass::Bool);
    check("VARCHAR", TypeClass::Text);
    check("TIMESTAMPTZ", TypeClass::Text);
    let dtype = |type_name: &str, rows: u64, nulls: u64| {
        pandas_dtype(&DbColumn::new("c", type_name), rows, nulls)
    };
    assert_eq!(dtype("INT4", 3, 0), "int64");
    assert_eq!(dtype("INT4", 3, 1), "float64");
    assert_eq!(dtype("NUMERIC", 3, 0), "float64");
    assert_eq!(dtype("BOOL", 3, 0), "bool");
    assert_eq!(dtype("BOOL", 3, 1), "object");
    assert_eq!(dtype("TEXT", 3, 0), "object");
    assert_eq!(dtype("TIMESTAMP", 3, 0), "datetime64[ns]");
    assert_eq!(dtype("INT4", 0, 0), "object");
}

#[test]
fn each_map_expectation_is_one_filtered_count() {
    let e = ExpectationConfig::new;
    check_item(
        e("expect_column_values_to_not_be_null").with("column", "amount"),
        "count(*) FILTER (WHERE TRUE AND ((\"amount\" IS NULL OR \"amount\" = 'NaN')))",
    );
    check_item(
        e("expect_column_values_to_be_between")
            .with("column", "id")
            .with("min_value", 0)
            .with("max_value", 10)
            .with("strict_max", true),
        "count(*) FILTER (WHERE NOT \"id\" IS NULL AND (NOT ((\"id\")::float8 >= '0.0'::float8 AND (\"id\")::float8 < '10.0'::float8)))",
    );
    check_item(
        e("expect_column_values_to_be_between")
            .with("column", "name")
            .with("min_value", 0),
        "count(*) FILTER (WHERE NOT \"name\" IS NULL AND (TRUE))",
    );
    check_item(
        e("expect_column_values_to_be_in_set")
            .with("column", "id")
            .with("value_set", json!([1, "x'y"])),
        "count(*) FILTER (WHERE NOT \"id\" IS NULL AND (NOT (((\"id\")::float8 = ANY(ARRAY['1.0'::float8]) OR (\"id\")::text = ANY(ARRAY['1', 'x''y']::text[])))))",
    );
    check_item(
        e("expect_column_values_to_not_be_in_set")
            .with("column", "flag")
            .with("value_set", json!([true])),
        "count(*) FILTER (WHERE NOT \"flag\" IS NULL AND ((CASE WHEN \"flag\" THEN 'True' ELSE 'False' END) = ANY(ARRAY['True', 'true']::text[])))",
    );
    check_item(
        e("expect_column_values_to_match_regex")
            .with("column", "we\"ird")
            .with("regex", r"^\d+$"),
        "count(*) FILTER (WHERE NOT \"we\"\"ird\" IS NULL AND (NOT ((\"we\"\"ird\")::text ~ E'^\\\\d+$')))",
    );
    check_item(
        e("expect_column_values_to_match_regex_list")
            .with("column", "name")
            .with("regex_list", json!(["a", "b"]))
            .with("match_on", "all"),
        "count(*) FILTER (WHERE NOT \"name\" IS NULL AND (NOT ((\"name\")::text ~ 'a' AND (\"name\")::text ~ 'b')))",
    );
    check_item(
        e("expect_column_values_to_not_match_regex_list")
            .with("column", "name")
            .with("regex_list", json!(["a", "b"])),
        "count(*) FILTER (WHERE NOT \"name\" IS NULL AND (((\"name\")::text ~ 'a' OR (\"name\")::text ~ 'b')))",
    );
    check_item(
        e("expect_column_value_lengths_to_equal")
            .with("column", "name")
            .with("value", 3),
        "count(*) FILTER (WHERE NOT \"name\" IS NULL AND (NOT (char_length((\"name\")::text)::float8 >= '3.0'::float8 AND char_length((\"name\")::text)::float8 <= '3.0'::float8)))",
    );
    check_item(
        e("expect_column_pair_values_a_to_be_greater_than_b")
            .with("column_A", "id")
            .with("column_B", "amount")
            .with("or_equal", true),
        "count(*) FILTER (WHERE NOT (\"id\" IS NULL AND (\"amount\" IS NULL OR \"amount\" = 'NaN')) AND (\"id\" IS NULL OR (\"amount\" IS NULL OR \"amount\" = 'NaN') OR NOT ((\"id\")::float8 >= (\"amount\")::float8)))",
    );
    check_item(
        e("expect_select_column_values_to_be_unique_within_record")
            .with("column_list", json!(["name", "we\"ird"])),
        "count(*) FILTER (WHERE NOT (\"name\" IS NULL AND \"we\"\"ird\" IS NULL) AND (coalesce((\"name\")::text, '') = coalesce((\"we\"\"ird\")::text, '')))",
    );
    check_item(
        e("expect_column_values_to_be_unique").with("column", "name"),
        "(SELECT coalesce(sum(\"__cairn_n\"), 0) FROM (SELECT count(*) AS \"__cairn_n\" FROM \"public\".\"orders\" AS \"__cairn_src\" WHERE NOT \"name\" IS NULL GROUP BY (\"name\")::text HAVING count(*) > 1) AS \"__cairn_groups\")",
    );
}

#[test]
fn each_statistic_is_one_aggregate() {
    let e = |name: &str| {
        ExpectationConfig::new(name)
            .with("column", "amount")
            .with("min_value", 0)
    };
    let filter = "FILTER (WHERE NOT (\"amount\" IS NULL OR \"amount\" = 'NaN'))";
    check_item(
        e("expect_column_mean_to_be_between"),
        &format!("avg((\"amount\")::float8) {filter}"),
    );
    check_item(
        e("expect_column_stdev_to_be_between"),
        &format!("stddev_samp((\"amount\")::float8) {filter}"),
    );
    check_item(
        e("expect_column_median_to_be_between"),
        &format!("percentile_cont(0.5) WITHIN GROUP (ORDER BY (\"amount\")::float8) {filter}"),
    );
    check_item(
        e("expect_column_unique_value_count_to_be_between"),
        &format!("count(DISTINCT (\"amount\")::text) {filter}"),
    );
    // Booleans count as 0 and 1, as in the engine.
    let flag = ExpectationConfig::new("expect_column_sum_to_be_between")
        .with("column", "flag")
        .with("min_value", 0);
    check_item(
        flag,
        "sum((\"flag\")::int::float8) FILTER (WHERE NOT \"flag\" IS NULL)",
    );
}

#[test]
fn one_query_holds_every_count() {
    let compiled = compiled(
        vec![
            ExpectationConfig::new("expect_column_values_to_not_be_null").with("column", "id"),
            ExpectationConfig::new("expect_column_mean_to_be_between")
                .with("column", "id")
                .with("min_value", 0),
            ExpectationConfig::new("expect_column_max_to_be_between")
                .with("column", "id")
                .with("max_value", 9),
        ],
        None,
    );
    let sql = compiled.aggregate_query().sql;
    assert!(
        sql.starts_with("SELECT (count(*))::text AS \"c0\""),
        "{sql}"
    );
    assert!(
        sql.ends_with("FROM \"public\".\"orders\" AS \"__cairn_src\""),
        "{sql}"
    );
    // Row count, the null check, the column's nulls (once), mean, max.
    assert_eq!(sql.matches(" AS \"c").count(), 5, "{sql}");
}

#[test]
fn what_sql_cannot_decide_goes_to_the_engine() {
    let e = ExpectationConfig::new;
    let configs = vec![
        e("expect_table_row_count_to_equal").with("value", 3),
        e("expect_column_values_to_be_json_parseable").with("column", "name"),
        e("expect_column_values_to_be_dateutil_parseable").with("column", "name"),
        e("expect_column_value_z_scores_to_be_less_than")
            .with("column", "amount")
            .with("threshold", 3),
        e("expect_column_values_to_be_between")
            .with("column", "name")
            .with("min_value", "2024-01-01"),
        e("expect_column_mean_to_be_between")
            .with("column", "name")
            .with("min_value", 0),
        e("expect_column_values_to_not_be_null").with("column", "absent"),
        e("expect_column_values_to_match_regex")
            .with("column", "name")
            .with("regex", "(?i)x"),
        e("expect_column_values_to_not_be_null").with("column", "id"),
    ];
    let compiled = compile(
        &suite(configs),
        &table(),
        &columns(),
        None,
        &["(?i)x".to_string()],
    )
    .unwrap();
    assert_eq!(compiled.engine_indexes(), vec![0, 1, 2, 3, 4, 5, 6, 7]);
    assert!(matches!(compiled.plans[8], Plan::Map(0)));
}

#[test]
fn monotonic_checks_need_an_order() {
    let config =
        ExpectationConfig::new("expect_column_values_to_be_increasing").with("column", "id");
    let unordered = compiled(vec![config.clone()], None);
    assert!(matches!(&unordered.plans[0], Plan::Failed(m) if m.contains("--order-by")));
    let ordered = compiled(vec![config], Some("id"));
    let row = AggregateRow::parse(&[Some("3".into()), Some("0".into())]);
    let followups = ordered.followups(&row);
    assert_eq!(followups.len(), 1);
    let sql = &followups[0].query.sql;
    assert!(
        sql.contains("lag(\"id\") OVER (ORDER BY \"__cairn_row\")"),
        "{sql}"
    );
    assert!(sql.contains("row_number() OVER (ORDER BY \"id\")"), "{sql}");
    assert!(
        sql.contains("NOT ((\"__cairn_v\")::float8 >= (\"__cairn_p\")::float8)"),
        "{sql}"
    );
    let bad = compile(&suite(vec![]), &table(), &columns(), Some("nope\""), &[]);
    assert!(bad.is_err());
}

#[test]
fn examples_are_asked_only_for_failures() {
    let compiled = compiled(
        vec![
            ExpectationConfig::new("expect_column_values_to_not_be_null").with("column", "id"),
            ExpectationConfig::new("expect_column_values_to_not_be_null").with("column", "name"),
        ],
        None,
    );
    // Row count 4; id has no null, name has 2.
    let row = AggregateRow::parse(&[Some("4".into()), Some("0".into()), Some("2".into())]);
    let followups = compiled.followups(&row);
    assert_eq!(followups.len(), 1);
    assert_eq!(followups[0].target, Target::Examples(1));
    let sql = &followups[0].query.sql;
    assert!(sql.contains("LIMIT 20"), "{sql}");
    let answers = vec![(
        followups[0].clone(),
        vec![vec![Some("1".into()), None], vec![Some("3".into()), None]],
    )];
    let results = compiled.finish(&row, &answers);
    let first = results[0].clone().unwrap();
    assert!(first.success);
    assert_eq!(first.unexpected_count, Some(0));
    assert_eq!(first.missing_count, None);
    let second = results[1].clone().unwrap();
    assert!(!second.success);
    assert_eq!(second.unexpected_count, Some(2));
    assert_eq!(second.element_count, Some(4));
    let rows: Vec<u64> = second.examples.iter().map(|e| e.row).collect();
    assert_eq!(rows, [1, 3]);
    assert_eq!(second.examples[0].value, Value::Null);
}

#[test]
fn mostly_applies_to_non_null_rows() {
    let compiled = compiled(
        vec![ExpectationConfig::new("expect_column_values_to_be_between")
            .with("column", "id")
            .with("min_value", 0)
            .with("mostly", 0.75)],
        None,
    );
    // 10 rows, 6 null, 1 of the 4 values out of range: 3/4 pass.
    let row = AggregateRow::parse(&[Some("10".into()), Some("6".into()), Some("1".into())]);
    let results = compiled.finish(&row, &[]);
    let result = results[0].clone().unwrap();
    assert!(result.success);
    assert_eq!(result.missing_count, Some(6));
    assert_eq!(result.unexpected_percent(), Some(25.0));
}

#[test]
fn nearest_quantiles_match_numpy() {
    // numpy.quantile(x, q, method="nearest") takes sorted[round_half_even(q·(n−1))];
    // percentile_disc(f) takes sorted[ceil(f·n) − 1].
    for n in 1u64..40 {
        for step in 0..=20 {
            let q = step as f64 / 20.0;
            let index = (q * (n - 1) as f64).round_ties_even() as u64;
            let fraction = nearest_fraction(q, n);
            let disc = ((fraction * n as f64).ceil() as u64).max(1) - 1;
            assert_eq!(disc, index, "n={n} q={q}");
        }
    }
}

#[test]
fn statistics_read_back_like_the_engine() {
    let e = |name: &str, column: &str| {
        ExpectationConfig::new(name)
            .with("column", column)
            .with("min_value", 0)
    };
    let compiled = compiled(
        vec![
            e("expect_column_sum_to_be_between", "id"),
            e("expect_column_max_to_be_between", "amount"),
            e("expect_column_values_to_be_of_type", "id")
                .with("type_", "int")
                .tap_remove("min_value"),
            e(
                "expect_column_proportion_of_unique_values_to_be_between",
                "name",
            ),
        ],
        None,
    );
    // rows, id nulls, id sum, amount nulls, amount max, name nulls, name distinct
    let row = AggregateRow::parse(&[
        Some("4".into()),
        Some("0".into()),
        Some("10".into()),
        Some("1".into()),
        Some("2".into()),
        Some("2".into()),
        Some("1".into()),
    ]);
    let results: Vec<ExpectationResult> = compiled
        .finish(&row, &[])
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(results[0].observed_value, json!(10));
    assert_eq!(results[1].observed_value, json!(2.0));
    assert_eq!(results[2].observed_value, json!("int64"));
    assert!(results[2].success);
    assert_eq!(results[3].observed_value, json!(0.5));
}

trait Tap {
    fn tap_remove(self, key: &str) -> Self;
}

impl Tap for ExpectationConfig {
    fn tap_remove(mut self, key: &str) -> Self {
        self.kwargs.remove(key);
        self
    }
}

#[test]
fn distinct_values_and_modes_come_from_value_counts() {
    let compiled = compiled(
        vec![
            ExpectationConfig::new("expect_column_distinct_values_to_equal_set")
                .with("column", "id")
                .with("value_set", json!([1, 2])),
            ExpectationConfig::new("expect_column_most_common_value_to_be_in_set")
                .with("column", "flag")
                .with("value_set", json!([true])),
        ],
        None,
    );
    let row = AggregateRow::parse(&[Some("3".into()), Some("0".into()), Some("0".into())]);
    let followups = compiled.followups(&row);
    assert_eq!(followups.len(), 2);
    assert!(followups[0].query.sql.contains("GROUP BY (\"id\")::text"));
    let answers = vec![
        (
            followups[0].clone(),
            vec![
                vec![Some("2".into()), Some("1".into())],
                vec![Some("1".into()), Some("2".into())],
            ],
        ),
        (
            followups[1].clone(),
            vec![
                vec![Some("True".into()), Some("2".into())],
                vec![Some("False".into()), Some("1".into())],
            ],
        ),
    ];
    let results = compiled.finish(&row, &answers);
    let distinct = results[0].clone().unwrap();
    assert!(distinct.success);
    assert_eq!(distinct.observed_value, json!([1, 2]));
    assert_eq!(distinct.details["value_counts"], json!({"1": 2, "2": 1}));
    let modes = results[1].clone().unwrap();
    assert!(modes.success);
    assert_eq!(modes.observed_value, json!([true]));
}
