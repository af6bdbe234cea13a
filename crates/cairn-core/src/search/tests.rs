//! Data-driven tests of the filter and `order_by` parsers: each case is an input and either the exact
//! AST or substrings of the error message.

use super::*;
use crate::ErrorKind;
use Comparator::*;
use SearchKind::*;

/// What a case expects: the clauses, or an error whose message contains every substring.
enum Expected {
    Parsed(Vec<Clause>),
    Fails(&'static [&'static str]),
}

fn clause(ident: Ident, comparator: Comparator, value: Value) -> Clause {
    Clause {
        ident,
        comparator,
        value,
    }
}

fn string(value: &str) -> Value {
    Value::String(value.to_string())
}

fn number(value: f64) -> Value {
    Value::Number(value)
}

fn list(values: &[&str]) -> Value {
    Value::List(values.iter().map(|value| value.to_string()).collect())
}

fn one(ident: Ident, comparator: Comparator, value: Value) -> Expected {
    Expected::Parsed(vec![clause(ident, comparator, value)])
}

fn check(kind: SearchKind, input: &str, expected: &Expected) {
    let result = parse_filter(kind, input);
    match (expected, result) {
        (Expected::Parsed(clauses), Ok(filter)) => {
            assert_eq!(&filter.clauses, clauses, "{kind:?} filter {input:?}");
        }
        (Expected::Fails(needles), Err(error)) => {
            assert_eq!(
                error.kind,
                ErrorKind::InvalidParameterValue,
                "{kind:?} filter {input:?}"
            );
            for needle in *needles {
                assert!(
                    error.message.contains(needle),
                    "{kind:?} filter {input:?}: message {:?} lacks {needle:?}",
                    error.message
                );
            }
        }
        (Expected::Parsed(_), Err(error)) => {
            panic!("{kind:?} filter {input:?} failed: {}", error.message)
        }
        (Expected::Fails(_), Ok(filter)) => {
            panic!("{kind:?} filter {input:?} should fail, parsed {filter:?}")
        }
    }
}

fn filter_cases() -> Vec<(SearchKind, &'static str, Expected)> {
    use Expected::Fails;
    vec![
        // ---- empty filters match everything
        (Runs, "", Expected::Parsed(vec![])),
        (Experiments, "   \n\t", Expected::Parsed(vec![])),
        // ---- runs: metrics
        (Runs, "metrics.rmse < 1", one(Ident::metric("rmse"), Lt, number(1.0))),
        (Runs, "metric.acc >= 0.92", one(Ident::metric("acc"), Ge, number(0.92))),
        (Runs, "metrics.loss>-1.5e-3", one(Ident::metric("loss"), Gt, number(-1.5e-3))),
        (Runs, "metrics.a != .5", one(Ident::metric("a"), NotEq, number(0.5))),
        (Runs, "metrics.a <= +2", one(Ident::metric("a"), Le, number(2.0))),
        (Runs, "metrics.`val/loss` = 3", one(Ident::metric("val/loss"), Eq, number(3.0))),
        (Runs, "metrics.\"my metric\" = 3", one(Ident::metric("my metric"), Eq, number(3.0))),
        (Runs, "`metrics`.`a-b` > 0", one(Ident::metric("a-b"), Gt, number(0.0))),
        // ---- runs: params and tags
        (Runs, "params.lr = '0.01'", one(Ident::param("lr"), Eq, string("0.01"))),
        (Runs, "param.model = \"cnn\"", one(Ident::param("model"), Eq, string("cnn"))),
        (Runs, "parameters.x LIKE 'a%'", one(Ident::param("x"), Like, string("a%"))),
        (Runs, "parameter.x ilike '%B_'", one(Ident::param("x"), ILike, string("%B_"))),
        (Runs, "tags.mlflow.runName != 'x'", one(Ident::tag("mlflow.runName"), NotEq, string("x"))),
        (Runs, "tag.`mlflow.user` = 'me'", one(Ident::tag("mlflow.user"), Eq, string("me"))),
        (Runs, "tags.note = 'it''s'", one(Ident::tag("note"), Eq, string("it's"))),
        (Runs, "tags.note = 'it\\'s'", one(Ident::tag("note"), Eq, string("it's"))),
        (Runs, "tags.note = 'a\\%b'", one(Ident::tag("note"), Eq, string("a\\%b"))),
        (Runs, "tags.note = ''", one(Ident::tag("note"), Eq, string(""))),
        (Runs, "tags.note = 'AND x = 1'", one(Ident::tag("note"), Eq, string("AND x = 1"))),
        (Runs, "tags.ünïcode = 'ü'", one(Ident::tag("ünïcode"), Eq, string("ü"))),
        (Runs, "params.p IS NULL", one(Ident::param("p"), IsNull, Value::Null)),
        (Runs, "tags.t is not null", one(Ident::tag("t"), IsNotNull, Value::Null)),
        (Runs, "tags.t IS   NOT\tNULL", one(Ident::tag("t"), IsNotNull, Value::Null)),
        // ---- runs: attributes and their aliases
        (Runs, "attributes.status = 'FINISHED'", one(Ident::attribute("status"), Eq, string("FINISHED"))),
        (Runs, "status = 'RUNNING'", one(Ident::attribute("status"), Eq, string("RUNNING"))),
        (Runs, "attr.user_id LIKE 'al%'", one(Ident::attribute("user_id"), Like, string("al%"))),
        (Runs, "run.artifact_uri ILIKE '%s3%'", one(Ident::attribute("artifact_uri"), ILike, string("%s3%"))),
        (Runs, "attribute.start_time > 1700000000000", one(Ident::attribute("start_time"), Gt, number(1.7e12))),
        (Runs, "created < 5", one(Ident::attribute("start_time"), Lt, number(5.0))),
        (Runs, "attributes.Created >= 5", one(Ident::attribute("start_time"), Ge, number(5.0))),
        (Runs, "end_time <= 7", one(Ident::attribute("end_time"), Le, number(7.0))),
        (Runs, "run_name = 'a'", one(Ident::attribute("run_name"), Eq, string("a"))),
        (Runs, "`Run name` = 'a'", one(Ident::attribute("run_name"), Eq, string("a"))),
        (Runs, "\"Run Name\" = 'a'", one(Ident::attribute("run_name"), Eq, string("a"))),
        (Runs, "attributes.`run name` != 'a'", one(Ident::attribute("run_name"), NotEq, string("a"))),
        (Runs, "run_id IN ('a1', 'b2')", one(Ident::attribute("run_id"), In, list(&["a1", "b2"]))),
        (Runs, "attributes.run_id not in (\"a1\",)", one(Ident::attribute("run_id"), NotIn, list(&["a1"]))),
        (Runs, "run_id IN('x')", one(Ident::attribute("run_id"), In, list(&["x"]))),
        // ---- runs: datasets
        (Runs, "datasets.name = 'iris'", one(Ident::dataset("name"), Eq, string("iris"))),
        (Runs, "dataset.digest IN ('d1','d2')", one(Ident::dataset("digest"), In, list(&["d1", "d2"]))),
        (Runs, "datasets.context NOT IN ('train')", one(Ident::dataset("context"), NotIn, list(&["train"]))),
        // ---- runs: conjunctions and whitespace
        (
            Runs,
            "metrics.a > 1 AND params.b = 'x' and tags.c LIKE '%y'",
            Expected::Parsed(vec![
                clause(Ident::metric("a"), Gt, number(1.0)),
                clause(Ident::param("b"), Eq, string("x")),
                clause(Ident::tag("c"), Like, string("%y")),
            ]),
        ),
        (
            Runs,
            "  name='M'and status='FAILED'  ",
            Fails(&["Invalid attribute key 'name' specified"]),
        ),
        (
            Runs,
            "run_name='M'and status='FAILED'  ",
            Expected::Parsed(vec![
                clause(Ident::attribute("run_name"), Eq, string("M")),
                clause(Ident::attribute("status"), Eq, string("FAILED")),
            ]),
        ),
        (
            Runs,
            "params.p IS NULL AND\nmetrics.m=1",
            Expected::Parsed(vec![
                clause(Ident::param("p"), IsNull, Value::Null),
                clause(Ident::metric("m"), Eq, number(1.0)),
            ]),
        ),
        // ---- runs: errors, with MLflow's wording
        (
            Runs,
            "metrics.m >> 1",
            Fails(&["Invalid comparator '>>' not one of '{'>=', '!=', '=', '>', '<=', '<'}"]),
        ),
        (
            Runs,
            "attributes.foo = 'x'",
            Fails(&["Invalid attribute key 'foo' specified. Valid keys are '{'Run Name', 'run_id', 'Created', 'status', 'created', 'run_name', 'run name', 'Run name', 'artifact_uri', 'end_time', 'start_time', 'user_id'}'"]),
        ),
        (Runs, "metrics.m LIKE 1", Fails(&["Invalid comparator 'LIKE'"])),
        (Runs, "metrics.m <> 1", Fails(&["Invalid comparator '<>'"])),
        (Runs, "metrics.m == 1", Fails(&["Invalid comparator '=='"])),
        (Runs, "metrics.m IS NULL", Fails(&["Invalid comparator 'IS NULL'"])),
        (Runs, "metrics.m = 'x'", Fails(&["Expected numeric value type for metric. Found 'x'"])),
        (Runs, "metrics.m = 1abc", Fails(&["Expected numeric value type for metric. Found 1abc"])),
        (Runs, "metrics.m = 1e999", Fails(&["Expected numeric value type for metric"])),
        (Runs, "params.p = 1", Fails(&["Expected a quoted string value for parameter (e.g. 'my-value'). Got value 1"])),
        (Runs, "tags.t = 2", Fails(&["Expected a quoted string value for tag"])),
        (Runs, "params.p = abc", Fails(&["Parameter value is either not quoted", "abc"])),
        (Runs, "params.p > 'a'", Fails(&["Invalid comparator '>' not one of '{'=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN', 'IS NULL', 'IS NOT NULL'}'"])),
        (Runs, "params.p IN ('b')", one(Ident::param("p"), In, list(&["b"]))),
        (Runs, "params.\"learning rate\" IN ('0.001', '0.01')", one(Ident::param("learning rate"), In, list(&["0.001", "0.01"]))),
        (Runs, "tags.t NOT IN ('a', 'b')", one(Ident::tag("t"), NotIn, list(&["a", "b"]))),
        (RegisteredModels, "tags.t in ('a')", one(Ident::tag("t"), In, list(&["a"]))),
        (Runs, "metrics.m IN (1)", Fails(&["Invalid comparator 'IN'"])),
        (Runs, "params.p IN (1)", Fails(&["but got different type in list: (1)"])),
        (Runs, "params.p = ('a')", Fails(&["a list needs IN or NOT IN"])),
        (Runs, "params.p NOT LIKE 'a'", Fails(&["Invalid comparator 'NOT LIKE'"])),
        (Runs, "tags.t IS 'x'", Fails(&["Invalid comparator 'IS'"])),
        (Runs, "start_time = 'yesterday'", Fails(&["Expected numeric value type for numeric attribute: start_time. Found 'yesterday'"])),
        (Runs, "created = 'x'", Fails(&["numeric attribute: created"])),
        (Runs, "start_time LIKE 1", Fails(&["Invalid comparator 'LIKE'"])),
        (Runs, "status = 1", Fails(&["Expected a quoted string value for attributes. Got value 1"])),
        (Runs, "status IN ('A', 'B')", Fails(&["Only the 'run_id' attribute supports comparison with a list of quoted string values."])),
        (Runs, "run_id = ('a')", Fails(&["a list needs IN or NOT IN"])),
        (Runs, "status = ('a')", Fails(&["Only the 'run_id' attribute supports comparison"])),
        (Runs, "start_time = (1)", Fails(&["Expected numeric value type for numeric attribute: start_time. Found (1)"])),
        (Runs, "metrics.a = (1)", Fails(&["Expected numeric value type for metric. Found (1)"])),
        (Runs, "datasets.name = ('x')", Fails(&["a list needs IN or NOT IN"])),
        (Runs, "run_id IN 'a'", Fails(&["Expected a list of quoted string values", "'a'"])),
        (Runs, "run_id IN ()", Fails(&["expected a non-empty list of string values, but got empty list"])),
        (Runs, "run_id IN (1, 2)", Fails(&["but got different type in list: (1, 2)"])),
        (Runs, "run_id IN ('a' 'b')", Fails(&["ill-formed list"])),
        (Runs, "run_id IN ('a',", Fails(&["ill-formed list"])),
        (Runs, "datasets.foo = 'x'", Fails(&["Invalid dataset key 'foo' specified. Valid keys are '{'name', 'digest', 'context'}'"])),
        (Runs, "datasets.name > 'x'", Fails(&["Invalid comparator '>'"])),
        (Runs, "datasets.name = 1", Fails(&["Expected a quoted string value for dataset attributes"])),
        (Runs, "foo.bar = 'x'", Fails(&["Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"])),
        (Runs, "Metrics.a = 1", Fails(&["Invalid entity type 'Metrics'"])),
        (Runs, "metrics.a > 1 OR metrics.b > 2", Fails(&["Invalid clause(s) in filter string", "OR is not supported"])),
        (Runs, "(metrics.a > 1)", Fails(&["Invalid clause(s) in filter string", "Parentheses are not supported"])),
        (Runs, "metrics.a > 1 AND", Fails(&["Expected a clause after AND"])),
        (Runs, "AND metrics.a > 1", Fails(&["Invalid attribute key 'AND' specified"])),
        (Runs, "metrics.a > 1 metrics.b > 2", Fails(&["Expected AND between clauses"])),
        (Runs, "metrics.a > 1 ANDmetrics.b > 2", Fails(&["Expected AND between clauses"])),
        (Runs, "metrics.a >", Fails(&["Expected a value after '>'"])),
        (Runs, "metrics.a", Fails(&["Expected a comparator, found the end of the filter"])),
        (Runs, "metrics.a ~ 1", Fails(&["Expected a comparator, found '~ 1'"])),
        (Runs, "metrics. > 1", Fails(&["Invalid identifier 'metrics.'"])),
        (Runs, "metrics.`` > 1", Fails(&["The key is empty"])),
        (Runs, "= 1", Fails(&["Expected an identifier such as"])),
        (Runs, "'x' = params.p", Fails(&["Expected an identifier such as"])),
        (Runs, "params.p = 'unterminated", Fails(&["Error on parsing filter", "unterminated quoted string"])),
        (Runs, "tags.`unterminated = 'x'", Fails(&["unterminated quoted string"])),
        (Runs, "metrics.a = 1;", Fails(&["Expected numeric value type for metric. Found 1;"])),
        (Runs, "params.p = 'a'; DROP TABLE runs", Fails(&["Expected AND between clauses"])),
        // ---- experiments
        (Experiments, "name = 'Default'", one(Ident::attribute("name"), Eq, string("Default"))),
        (Experiments, "attribute.name ILIKE '%prod%'", one(Ident::attribute("name"), ILike, string("%prod%"))),
        (Experiments, "creation_time > 10", one(Ident::attribute("creation_time"), Gt, number(10.0))),
        (Experiments, "last_update_time <= 10", one(Ident::attribute("last_update_time"), Le, number(10.0))),
        (Experiments, "experiment_id IN ('1', '2')", one(Ident::attribute("experiment_id"), In, list(&["1", "2"]))),
        (Experiments, "experiment_id = '1'", one(Ident::attribute("experiment_id"), Eq, string("1"))),
        (Experiments, "tags.team = 'ml'", one(Ident::tag("team"), Eq, string("ml"))),
        (Experiments, "tag.`a b` IS NULL", one(Ident::tag("a b"), IsNull, Value::Null)),
        (Experiments, "metrics.a > 1", Fails(&["Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')"])),
        (Experiments, "params.a = 'x'", Fails(&["Invalid entity type 'params'"])),
        (Experiments, "status = 'x'", Fails(&["Invalid attribute key 'status' specified", "'creation_time'"])),
        (Experiments, "name IN ('a')", Fails(&["Only the 'experiment_id' attribute supports comparison"])),
        (Experiments, "creation_time = 'x'", Fails(&["numeric attribute: creation_time"])),
        // ---- registered models
        (RegisteredModels, "name='M'", one(Ident::attribute("name"), Eq, string("M"))),
        (RegisteredModels, "name LIKE 'M%'", one(Ident::attribute("name"), Like, string("M%"))),
        (RegisteredModels, "name IN ('a', 'b')", one(Ident::attribute("name"), In, list(&["a", "b"]))),
        (
            RegisteredModels,
            "name ILIKE '%m%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
            Expected::Parsed(vec![
                clause(Ident::attribute("name"), ILike, string("%m%")),
                clause(Ident::tag("mlflow.prompt.is_prompt"), NotEq, string("true")),
            ]),
        ),
        (RegisteredModels, "tags.k = 'v'", one(Ident::tag("k"), Eq, string("v"))),
        (RegisteredModels, "creation_timestamp > 1", Fails(&["Invalid attribute key 'creation_timestamp'", "{'name'}"])),
        (RegisteredModels, "metrics.a > 1", Fails(&["Invalid entity type 'metrics'"])),
        (RegisteredModels, "name > 'a'", Fails(&["Invalid comparator '>'"])),
        // ---- model versions
        (ModelVersions, "name = 'M'", one(Ident::attribute("name"), Eq, string("M"))),
        (ModelVersions, "run_id IN ('r1', 'r2')", one(Ident::attribute("run_id"), In, list(&["r1", "r2"]))),
        (ModelVersions, "run_id = 'r1'", one(Ident::attribute("run_id"), Eq, string("r1"))),
        (ModelVersions, "source_path LIKE 's3://%'", one(Ident::attribute("source_path"), Like, string("s3://%"))),
        (ModelVersions, "version_number >= 3", one(Ident::attribute("version_number"), Ge, number(3.0))),
        (ModelVersions, "version_number = '3'", one(Ident::attribute("version_number"), Eq, number(3.0))),
        (ModelVersions, "tags.stage = 'prod'", one(Ident::tag("stage"), Eq, string("prod"))),
        (
            ModelVersions,
            "name='M' AND version_number > 1 AND tags.`a.b` IS NOT NULL",
            Expected::Parsed(vec![
                clause(Ident::attribute("name"), Eq, string("M")),
                clause(Ident::attribute("version_number"), Gt, number(1.0)),
                clause(Ident::tag("a.b"), IsNotNull, Value::Null),
            ]),
        ),
        (ModelVersions, "run_id NOT IN ('r1')", Fails(&["Invalid comparator 'NOT IN' not one of '{'!=', '=', 'LIKE', 'ILIKE', 'IN'}'"])),
        (ModelVersions, "version_number = 'three'", Fails(&["numeric attribute: version_number"])),
        (ModelVersions, "name IN ('a')", Fails(&["Only the 'run_id' attribute supports comparison"])),
        (ModelVersions, "version = 1", Fails(&["Invalid attribute key 'version' specified"])),
        (ModelVersions, "params.a = 'x'", Fails(&["Invalid entity type 'params'"])),
        // ---- logged models
        (LoggedModels, "name = 'model'", one(Ident::attribute("name"), Eq, string("model"))),
        (LoggedModels, "model_id IN ('m-1', 'm-2')", one(Ident::attribute("model_id"), In, list(&["m-1", "m-2"]))),
        (LoggedModels, "status NOT IN ('FAILED')", one(Ident::attribute("status"), NotIn, list(&["FAILED"]))),
        (LoggedModels, "source_run_id = 'r'", one(Ident::attribute("source_run_id"), Eq, string("r"))),
        (LoggedModels, "model_type ILIKE 'agent%'", one(Ident::attribute("model_type"), ILike, string("agent%"))),
        (LoggedModels, "creation_time > 5", one(Ident::attribute("creation_timestamp"), Gt, number(5.0))),
        (LoggedModels, "creation_timestamp > 5", one(Ident::attribute("creation_timestamp"), Gt, number(5.0))),
        (LoggedModels, "last_updated_time < 5", one(Ident::attribute("last_updated_timestamp"), Lt, number(5.0))),
        (LoggedModels, "metrics.accuracy > 0.9", one(Ident::metric("accuracy"), Gt, number(0.9))),
        (LoggedModels, "params.lr = '0.1'", one(Ident::param("lr"), Eq, string("0.1"))),
        (LoggedModels, "tags.k IS NULL", one(Ident::tag("k"), IsNull, Value::Null)),
        (LoggedModels, "datasets.name = 'x'", Fails(&["Invalid entity type 'datasets'. Valid values are ['metric', 'parameter', 'tag', 'attribute']"])),
        (LoggedModels, "run_id = 'x'", Fails(&["Invalid attribute key 'run_id' specified", "'source_run_id'"])),
        (LoggedModels, "creation_time = 'x'", Fails(&["numeric attribute: creation_time"])),
    ]
}

#[test]
fn filters() {
    let cases = filter_cases();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    for (kind, input, expected) in &cases {
        check(*kind, input, expected);
    }
}

fn check_order_by(kind: SearchKind, input: &[&str], expected: Result<Vec<(Ident, bool)>, &str>) {
    let input: Vec<String> = input.iter().map(|entry| entry.to_string()).collect();
    let result = parse_order_by(kind, &input);
    match (expected, result) {
        (Ok(expected), Ok(parsed)) => {
            let expected: Vec<OrderBy> = expected
                .into_iter()
                .map(|(ident, ascending)| OrderBy { ident, ascending })
                .collect();
            assert_eq!(parsed, expected, "{kind:?} order_by {input:?}");
        }
        (Err(needle), Err(error)) => {
            assert_eq!(error.kind, ErrorKind::InvalidParameterValue);
            assert!(
                error.message.contains(needle),
                "{kind:?} order_by {input:?}: message {:?} lacks {needle:?}",
                error.message
            );
        }
        (Ok(_), Err(error)) => panic!("{kind:?} order_by {input:?} failed: {}", error.message),
        (Err(_), Ok(parsed)) => {
            panic!("{kind:?} order_by {input:?} should fail, parsed {parsed:?}")
        }
    }
}

type OrderByCase = (
    SearchKind,
    &'static [&'static str],
    Result<Vec<(Ident, bool)>, &'static str>,
);

fn order_by_cases() -> Vec<OrderByCase> {
    vec![
        (Runs, &[], Ok(vec![])),
        (
            Runs,
            &["metrics.rmse"],
            Ok(vec![(Ident::metric("rmse"), true)]),
        ),
        (
            Runs,
            &["metrics.rmse DESC"],
            Ok(vec![(Ident::metric("rmse"), false)]),
        ),
        (
            Runs,
            &["  metrics.`val loss`   asc "],
            Ok(vec![(Ident::metric("val loss"), true)]),
        ),
        (
            Runs,
            &[
                "params.lr desc",
                "tags.`mlflow.runName` ASC",
                "attributes.start_time DESC",
            ],
            Ok(vec![
                (Ident::param("lr"), false),
                (Ident::tag("mlflow.runName"), true),
                (Ident::attribute("start_time"), false),
            ]),
        ),
        (
            Runs,
            &["created"],
            Ok(vec![(Ident::attribute("start_time"), true)]),
        ),
        (
            Runs,
            &["run_name Desc"],
            Ok(vec![(Ident::attribute("run_name"), false)]),
        ),
        (
            Runs,
            &["status", "user_id", "artifact_uri", "end_time", "run_id"],
            Ok(vec![
                (Ident::attribute("status"), true),
                (Ident::attribute("user_id"), true),
                (Ident::attribute("artifact_uri"), true),
                (Ident::attribute("end_time"), true),
                (Ident::attribute("run_id"), true),
            ]),
        ),
        (
            Runs,
            &["start_time", "created DESC"],
            Err("`order_by` contains duplicate fields"),
        ),
        (
            Runs,
            &["metrics.a", "metric.a desc"],
            Err("`order_by` contains duplicate fields"),
        ),
        (
            Runs,
            &["metrics.a sideways"],
            Err("Invalid ordering key in order_by clause 'metrics.a sideways'"),
        ),
        (
            Runs,
            &["metrics.a DESC extra"],
            Err("Invalid order_by clause 'metrics.a DESC extra'. Could not be parsed."),
        ),
        (Runs, &["metrics.a > 1"], Err("Could not be parsed")),
        (
            Runs,
            &[""],
            Err("Invalid order_by clause ''. Could not be parsed."),
        ),
        (Runs, &["foo"], Err("Invalid attribute key 'foo' specified")),
        (
            Runs,
            &["`Run name`"],
            Err("Invalid attribute key 'Run name' specified"),
        ),
        (
            Runs,
            &["datasets.name"],
            Err("Invalid order_by entity type 'datasets'"),
        ),
        (Runs, &["bogus.a"], Err("Invalid entity type 'bogus'")),
        (
            Runs,
            &["metrics.`open"],
            Err("Error on parsing order_by clause"),
        ),
        (
            Experiments,
            &["name", "creation_time DESC"],
            Ok(vec![
                (Ident::attribute("name"), true),
                (Ident::attribute("creation_time"), false),
            ]),
        ),
        (
            Experiments,
            &["last_update_time", "experiment_id desc"],
            Ok(vec![
                (Ident::attribute("last_update_time"), true),
                (Ident::attribute("experiment_id"), false),
            ]),
        ),
        (
            Experiments,
            &["tags.a"],
            Err("Invalid order_by entity: tags"),
        ),
        (
            Experiments,
            &["status"],
            Err("Invalid attribute key 'status' specified"),
        ),
        (
            RegisteredModels,
            &["name ASC", "timestamp DESC"],
            Ok(vec![
                (Ident::attribute("name"), true),
                (Ident::attribute("creation_timestamp"), false),
            ]),
        ),
        (
            RegisteredModels,
            &["last_updated_timestamp", "creation_timestamp"],
            Ok(vec![
                (Ident::attribute("last_updated_timestamp"), true),
                (Ident::attribute("creation_timestamp"), true),
            ]),
        ),
        (
            RegisteredModels,
            &["timestamp", "creation_timestamp"],
            Err("duplicate fields"),
        ),
        (
            RegisteredModels,
            &["version"],
            Err("Invalid order by key 'version' specified"),
        ),
        (
            ModelVersions,
            &[
                "version_number DESC",
                "name",
                "creation_timestamp",
                "last_updated_timestamp",
            ],
            Ok(vec![
                (Ident::attribute("version_number"), false),
                (Ident::attribute("name"), true),
                (Ident::attribute("creation_timestamp"), true),
                (Ident::attribute("last_updated_timestamp"), true),
            ]),
        ),
        (
            ModelVersions,
            &["run_id"],
            Err("Invalid attribute key 'run_id' specified"),
        ),
        (
            LoggedModels,
            &["creation_time DESC", "metrics.acc", "name"],
            Ok(vec![
                (Ident::attribute("creation_timestamp"), false),
                (Ident::metric("acc"), true),
                (Ident::attribute("name"), true),
            ]),
        ),
        (
            LoggedModels,
            &["params.lr"],
            Err("Invalid order by field name: params, only `metrics.<name>` is allowed."),
        ),
        (
            LoggedModels,
            &["bogus"],
            Err("Invalid order by field name: bogus"),
        ),
    ]
}

#[test]
fn order_by() {
    let cases = order_by_cases();
    for (kind, input, expected) in cases {
        check_order_by(kind, input, expected);
    }
}

/// A small deterministic generator: strings glued from pieces of the grammar, to look for panics.
fn generated_inputs(count: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "metrics",
        "params",
        "tags",
        "attributes",
        "datasets",
        ".",
        "`",
        "\"",
        "'",
        "\\",
        "(",
        ")",
        ",",
        " ",
        "=",
        "!=",
        ">",
        "<=",
        "LIKE",
        "ILIKE",
        "IN",
        "NOT",
        "IS",
        "NULL",
        "AND",
        "OR",
        "run_id",
        "name",
        "start_time",
        "version_number",
        "1",
        "-2.5e3",
        "x",
        "é",
        "🦀",
        "\u{0}",
        "ASC",
        "DESC",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let length = next() % 12;
            (0..length)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect()
        })
        .collect()
}

/// Every prefix of every case, generated strings and some hostile strings parse to a result without
/// panicking.
#[test]
fn never_panics() {
    let mut inputs: Vec<String> = filter_cases()
        .iter()
        .map(|(_, input, _)| input.to_string())
        .collect();
    inputs.extend(
        [
            "'",
            "\"",
            "`",
            "(",
            ")",
            ".",
            "..",
            "a.",
            ".a",
            "a..b = 'x'",
            "IS",
            "NOT",
            "metrics.a IS NOT",
            "metrics.a NOT",
            "run_id IN (",
            "run_id IN ('a'",
            "tags.a = 'x' AND AND",
            "é = 'ü'",
            "tags.\u{0}= '\u{0}'",
            "metrics.a = -",
            "metrics.a = 1e",
            "metrics.a = 1e+",
            "metrics.a = .",
            "metrics.a = 🦀",
            "🦀.🦀 = 1",
            "tags.`a``b` = 'x'",
        ]
        .map(str::to_string),
    );
    inputs.extend(generated_inputs(3000));
    for input in &inputs {
        let characters: Vec<char> = input.chars().collect();
        for end in 0..=characters.len() {
            let prefix: String = characters[..end].iter().collect();
            for kind in [
                Runs,
                Experiments,
                RegisteredModels,
                ModelVersions,
                LoggedModels,
            ] {
                let _ = parse_filter(kind, &prefix);
                let _ = parse_order_by(kind, std::slice::from_ref(&prefix));
            }
        }
    }
}
