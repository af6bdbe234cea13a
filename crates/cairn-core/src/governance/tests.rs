//! Data-driven tests of the governance engine: rule parsing, evaluation, the policy file and naming.

use std::collections::BTreeMap;

use super::evaluate::display_number;
use super::*;

// ---------------------------------------------------------------------------------------------------
// Rule parsing

/// The rule a text parses to, or substrings its error message must hold.
type ExpectedRule = Result<Rule, &'static [&'static str]>;

fn check_rule(kind: &str, text: &str, expected: ExpectedRule) {
    let parsed = Rule::parse(kind, text);
    match (expected, parsed) {
        (Ok(rule), Ok(parsed)) => assert_eq!(parsed, rule, "{kind}: {text:?}"),
        (Err(needles), Err(error)) => {
            let message = error.to_string();
            assert!(
                message.contains(&format!("'{kind}: {text}'")),
                "{kind}: {text:?}: message {message:?} does not quote the rule"
            );
            for needle in needles {
                assert!(
                    message.contains(needle),
                    "{kind}: {text:?}: message {message:?} lacks {needle:?}"
                );
            }
        }
        (Ok(_), Err(error)) => panic!("{kind}: {text:?} failed: {error}"),
        (Err(_), Ok(rule)) => panic!("{kind}: {text:?} should fail, parsed {rule:?}"),
    }
}

fn threshold(key: &str, op: ComparisonOp, value: f64) -> ExpectedRule {
    Ok(Rule::MetricThreshold {
        key: key.to_string(),
        op,
        value,
    })
}

fn tag_equals(key: &str, value: &str) -> ExpectedRule {
    Ok(Rule::TagEquals {
        key: key.to_string(),
        value: value.to_string(),
    })
}

fn tag_not_equals(key: &str, value: &str) -> ExpectedRule {
    Ok(Rule::TagNotEquals {
        key: key.to_string(),
        value: value.to_string(),
    })
}

fn age(count: f64, unit: TimeUnit) -> ExpectedRule {
    Ok(Rule::MaxRunAge(AgeLimit { count, unit }))
}

#[test]
fn metric_rules_parse() {
    use ComparisonOp::*;
    let cases: Vec<(&str, ExpectedRule)> = vec![
        ("val_auc >= 0.9", threshold("val_auc", GreaterOrEqual, 0.9)),
        ("val_auc>=0.9", threshold("val_auc", GreaterOrEqual, 0.9)),
        ("  f1 > 0.7  ", threshold("f1", Greater, 0.7)),
        ("loss <= 1e-3", threshold("loss", LessOrEqual, 1e-3)),
        ("latency_ms < 250", threshold("latency_ms", Less, 250.0)),
        ("epochs == 10", threshold("epochs", Equal, 10.0)),
        ("epochs = 10", threshold("epochs", Equal, 10.0)),
        ("diverged != 1", threshold("diverged", NotEqual, 1.0)),
        ("delta > -1.5", threshold("delta", Greater, -1.5)),
        ("delta > +.5", threshold("delta", Greater, 0.5)),
        ("val/auc >= 0.9", threshold("val/auc", GreaterOrEqual, 0.9)),
        (
            "eval.test set.auc >= 0.9",
            threshold("eval.test set.auc", GreaterOrEqual, 0.9),
        ),
        ("x < inf", threshold("x", Less, f64::INFINITY)),
        ("", Err(&["expected '<metric key> <operator> <number>'"])),
        (
            "val_auc 0.9",
            Err(&["expected '<metric key> <operator> <number>'"]),
        ),
        ("val_auc >> 0.9", Err(&["unknown operator '>>'"])),
        ("val_auc => 0.9", Err(&["unknown operator '=>'"])),
        ("val_auc <> 0.9", Err(&["unknown operator '<>'"])),
        ("val_auc !! 0.9", Err(&["unknown operator '!!'"])),
        (">= 0.9", Err(&["missing the metric key before '>='"])),
        ("val_auc >=", Err(&["missing the number after '>='"])),
        ("val_auc >= high", Err(&["'high' is not a number"])),
        ("val_auc >= 0.9 0.8", Err(&["'0.9 0.8' is not a number"])),
        ("val_auc >= NaN", Err(&["the threshold cannot be NaN"])),
        // Parsed from the right: a key holding an operator character leaves junk in the number.
        ("a >= 1 < 2", threshold("a >= 1", Less, 2.0)),
    ];
    for (text, expected) in cases {
        check_rule("metric", text, expected);
    }
}

#[test]
fn tag_rules_parse() {
    let cases: Vec<(&str, ExpectedRule)> = vec![
        (
            "validation.status = passed",
            tag_equals("validation.status", "passed"),
        ),
        (
            "validation.status=passed",
            tag_equals("validation.status", "passed"),
        ),
        (
            "validation.status == passed",
            tag_equals("validation.status", "passed"),
        ),
        (
            "validation.status != failed",
            tag_not_equals("validation.status", "failed"),
        ),
        ("owner = 'Data Team'", tag_equals("owner", "Data Team")),
        ("owner = \"Data Team\"", tag_equals("owner", "Data Team")),
        ("owner = ' padded '", tag_equals("owner", " padded ")),
        ("note = ''", tag_equals("note", "")),
        ("note != ''", tag_not_equals("note", "")),
        ("formula = a=b", tag_equals("formula", "a=b")),
        ("quote = 'unbalanced", tag_equals("quote", "'unbalanced")),
        ("path/key = x y z", tag_equals("path/key", "x y z")),
        (
            "validation.status",
            Err(&["expected '<tag key> = <value>'"]),
        ),
        ("= passed", Err(&["missing the tag key"])),
        ("!= passed", Err(&["missing the tag key"])),
        (
            "status =",
            Err(&["missing the value", "write '' for an empty value"]),
        ),
        ("status =   ", Err(&["missing the value"])),
    ];
    for (text, expected) in cases {
        check_rule("tag", text, expected);
    }
}

#[test]
fn durations_parse() {
    use TimeUnit::*;
    let cases: Vec<(&str, ExpectedRule)> = vec![
        ("30d", age(30.0, Days)),
        ("30 d", age(30.0, Days)),
        (" 12h ", age(12.0, Hours)),
        ("1.5w", age(1.5, Weeks)),
        ("90m", age(90.0, Minutes)),
        ("45s", age(45.0, Seconds)),
        ("0.5d", age(0.5, Days)),
        ("30", Err(&["'30' has no unit", "units s, m, h, d, w"])),
        ("d", Err(&["expected a duration like 30d"])),
        ("", Err(&["expected a duration like 30d"])),
        ("30y", Err(&["unknown unit 'y'"])),
        ("30 days", Err(&["unknown unit 'days'"])),
        ("30D", Err(&["unknown unit 'D'"])),
        ("-1d", Err(&["expected a duration like 30d"])),
        ("1e3d", Err(&["unknown unit 'e3d'"])),
        ("1.2.3d", Err(&["'1.2.3' is not a number"])),
        ("0d", Err(&["the duration must be positive"])),
    ];
    for (text, expected) in cases {
        check_rule("max_run_age", text, expected);
    }
}

#[test]
fn durations_in_milliseconds() {
    let cases = [
        ("45s", 45_000.0),
        ("90m", 5_400_000.0),
        ("12h", 43_200_000.0),
        ("30d", 2_592_000_000.0),
        ("1.5w", 907_200_000.0),
        ("0.5d", 43_200_000.0),
    ];
    for (text, expected) in cases {
        let limit = AgeLimit::parse(text).unwrap();
        assert_eq!(limit.as_millis(), expected, "{text}");
    }
}

#[test]
fn dataset_and_unknown_rules_parse() {
    let cases: Vec<(&str, &str, ExpectedRule)> = vec![
        (
            "dataset_input",
            "train",
            Ok(Rule::DatasetInput(DatasetRequirement::Named(
                "train".to_string(),
            ))),
        ),
        (
            "dataset_input",
            " any ",
            Ok(Rule::DatasetInput(DatasetRequirement::Any)),
        ),
        (
            "dataset_input",
            "  ",
            Err(&["expected a dataset name or context, or 'any'"]),
        ),
        (
            "metrics",
            "x > 1",
            Err(&["unknown rule kind 'metrics'", "metric, tag, vs_current"]),
        ),
    ];
    for (kind, text, expected) in cases {
        check_rule(kind, text, expected);
    }
}

/// `vs_current` takes a map, so its cases go through the YAML reader.
fn check_vs_current(yaml: &str, expected: Result<VsCurrent, &[&str]>) {
    let parsed: Result<Rule, _> = serde_yaml_ng::from_str(yaml);
    match (expected, parsed) {
        (Ok(comparison), Ok(rule)) => assert_eq!(rule, Rule::VsCurrent(comparison), "{yaml}"),
        (Err(needles), Err(error)) => {
            let message = error.to_string();
            for needle in needles {
                assert!(
                    message.contains(needle),
                    "{yaml}: message {message:?} lacks {needle:?}"
                );
            }
        }
        (Ok(_), Err(error)) => panic!("{yaml} failed: {error}"),
        (Err(_), Ok(rule)) => panic!("{yaml} should fail, parsed {rule:?}"),
    }
}

fn vs(
    metric: &str,
    lower_is_better: bool,
    tolerance: Tolerance,
) -> Result<VsCurrent, &'static [&'static str]> {
    Ok(VsCurrent {
        metric: metric.to_string(),
        lower_is_better,
        tolerance,
    })
}

#[test]
fn vs_current_rules_parse() {
    use Tolerance::*;
    let cases: Vec<(&str, Result<VsCurrent, &[&str]>)> = vec![
        (
            "vs_current: { metric: val_auc, max_drop: 0.01 }",
            vs("val_auc", false, Absolute(0.01)),
        ),
        (
            "vs_current: { metric: val_auc, max_drop_pct: 2 }",
            vs("val_auc", false, Percent(2.0)),
        ),
        (
            "vs_current: { metric: latency_ms, lower_is_better: true, max_increase_pct: 10 }",
            vs("latency_ms", true, Percent(10.0)),
        ),
        (
            "vs_current: { metric: latency_ms, lower_is_better: true, max_increase: 5 }",
            vs("latency_ms", true, Absolute(5.0)),
        ),
        (
            "vs_current: { metric: acc, lower_is_better: false, max_drop: 0 }",
            vs("acc", false, Absolute(0.0)),
        ),
        (
            "vs_current: { metric: val_auc }",
            Err(&[
                "invalid rule 'vs_current: { metric: val_auc }'",
                "set one tolerance",
            ]),
        ),
        (
            "vs_current: { metric: val_auc, max_drop: 0.01, max_drop_pct: 1 }",
            Err(&["set only one tolerance, found max_drop and max_drop_pct"]),
        ),
        (
            "vs_current: { metric: latency_ms, lower_is_better: true, max_drop: 5 }",
            Err(&[
                "max_drop is for metrics where higher is better",
                "use max_increase",
            ]),
        ),
        (
            "vs_current: { metric: latency_ms, max_increase_pct: 10 }",
            Err(&[
                "max_increase_pct is for metrics where lower is better",
                "or use max_drop_pct",
            ]),
        ),
        (
            "vs_current: { metric: val_auc, max_drop: -0.1 }",
            Err(&["max_drop must be a finite number >= 0, got -0.1"]),
        ),
        (
            "vs_current: { metric: val_auc, max_drop: .nan }",
            Err(&["max_drop must be a finite number >= 0"]),
        ),
        (
            "vs_current: { metric: ' ', max_drop: 1 }",
            Err(&["the metric is empty"]),
        ),
        (
            "vs_current: { max_drop: 1 }",
            Err(&["missing field `metric`"]),
        ),
        (
            "vs_current: { metric: a, max_drop: 1, slack: 2 }",
            Err(&["unknown field `slack`"]),
        ),
        (
            "vs_current: { metric: a, max_drop: '1%' }",
            Err(&["invalid type"]),
        ),
    ];
    for (yaml, expected) in cases {
        check_vs_current(yaml, expected);
    }
}

#[test]
fn rule_maps_have_exactly_one_known_key() {
    let cases: &[(&str, &[&str])] = &[
        ("{}", &["a rule is empty"]),
        (
            "{ metric: 'a > 1', tag: 'b = c' }",
            &["has 'metric' and 'tag'", "two rules"],
        ),
        (
            "{ metrc: 'a > 1' }",
            &["unknown variant `metrc`", "expected one of `metric`"],
        ),
        (
            "metric: 'a >> 1'",
            &["invalid rule 'metric: a >> 1'", "unknown operator '>>'"],
        ),
        ("max_run_age: 30", &["'30' has no unit"]),
        ("'metric: a > 1'", &["expected a rule"]),
    ];
    for (yaml, needles) in cases {
        let error = serde_yaml_ng::from_str::<Rule>(yaml)
            .unwrap_err()
            .to_string();
        for needle in *needles {
            assert!(
                error.contains(needle),
                "{yaml}: message {error:?} lacks {needle:?}"
            );
        }
    }
}

#[test]
fn rules_display_in_short_human_form() {
    let cases = [
        ("metric: 'val_auc >= 0.9'", "metrics.val_auc >= 0.9"),
        ("metric: 'epochs = 10'", "metrics.epochs == 10"),
        ("metric: 'loss < 1e-7'", "metrics.loss < 0.0000001"),
        (
            "tag: 'validation.status = passed'",
            "tags.validation.status = passed",
        ),
        (
            "tag: 'validation.status != failed'",
            "tags.validation.status != failed",
        ),
        ("tag: \"note = ''\"", "tags.note = ''"),
        (
            "vs_current: { metric: val_auc, max_drop: 0.01 }",
            "val_auc not worse than current holder by more than 0.01",
        ),
        (
            "vs_current: { metric: val_auc, max_drop_pct: 2.5 }",
            "val_auc not worse than current holder by more than 2.5%",
        ),
        (
            "vs_current: { metric: latency_ms, lower_is_better: true, max_increase_pct: 10 }",
            "latency_ms not worse than current holder by more than 10% (lower is better)",
        ),
        ("max_run_age: 30d", "run age <= 30d"),
        ("max_run_age: 1.5w", "run age <= 1.5w"),
        ("dataset_input: train", "dataset input 'train'"),
        ("dataset_input: any", "any dataset input"),
    ];
    for (yaml, expected) in cases {
        let rule: Rule = serde_yaml_ng::from_str(yaml).unwrap();
        assert_eq!(rule.to_string(), expected, "{yaml}");
    }
}

#[test]
fn rules_serialize_back_to_what_they_read() {
    let cases = [
        ("metric: val_auc >= 0.9", r#"{"metric":"val_auc >= 0.9"}"#),
        ("metric: 'epochs=10'", r#"{"metric":"epochs == 10"}"#),
        ("tag: owner = ' padded '", r#"{"tag":"owner = ' padded '"}"#),
        ("tag: q = \"'quoted'\"", r#"{"tag":"q = ''quoted''"}"#),
        ("tag: a != b", r#"{"tag":"a != b"}"#),
        (
            "vs_current: { metric: val_auc, max_drop: 0.01 }",
            r#"{"vs_current":{"metric":"val_auc","max_drop":0.01}}"#,
        ),
        (
            "vs_current: { metric: l, lower_is_better: true, max_increase_pct: 10 }",
            r#"{"vs_current":{"metric":"l","lower_is_better":true,"max_increase_pct":10.0}}"#,
        ),
        ("max_run_age: 30 d", r#"{"max_run_age":"30d"}"#),
        ("dataset_input: any", r#"{"dataset_input":"any"}"#),
    ];
    for (yaml, json) in cases {
        let rule: Rule = serde_yaml_ng::from_str(yaml).unwrap();
        assert_eq!(serde_json::to_string(&rule).unwrap(), json, "{yaml}");
        let back: Rule = serde_json::from_str(json).unwrap();
        assert_eq!(back, rule, "{json}");
    }
}

// ---------------------------------------------------------------------------------------------------
// Evaluation

const DAY_MS: i64 = 86_400_000;
const NOW_MS: i64 = 1_700_000_000_000;

fn rule(yaml: &str) -> Rule {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn evidence(version: &str, metrics: &[(&str, f64)]) -> Evidence {
    Evidence {
        model_name: "fraud-model".to_string(),
        version: version.to_string(),
        run_id: Some(format!("run-{version}")),
        metrics: metrics
            .iter()
            .map(|(key, value)| (key.to_string(), *value))
            .collect(),
        ..Evidence::default()
    }
}

fn with_tags(mut evidence: Evidence, tags: &[(&str, &str)]) -> Evidence {
    evidence.tags = tags
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    evidence
}

fn with_times(mut evidence: Evidence, start_ms: Option<i64>, end_ms: Option<i64>) -> Evidence {
    evidence.run_start_time_ms = start_ms;
    evidence.run_end_time_ms = end_ms;
    evidence
}

fn with_datasets(mut evidence: Evidence, datasets: &[(&str, Option<&str>)]) -> Evidence {
    evidence.datasets = datasets
        .iter()
        .map(|(name, context)| DatasetEvidence {
            name: name.to_string(),
            digest: format!("digest-{name}"),
            context: context.map(str::to_string),
            first_seen_ms: None,
        })
        .collect();
    evidence
}

fn without_run(mut evidence: Evidence) -> Evidence {
    evidence.run_id = None;
    evidence
}

/// One evaluation case: the rule, the candidate, the current holder, then what must come out.
struct Case {
    rule: &'static str,
    candidate: Evidence,
    current: Option<Evidence>,
    passed: bool,
    actual: &'static str,
    required: &'static str,
}

fn case(
    rule: &'static str,
    candidate: Evidence,
    current: Option<Evidence>,
    passed: bool,
    actual: &'static str,
    required: &'static str,
) -> Case {
    Case {
        rule,
        candidate,
        current,
        passed,
        actual,
        required,
    }
}

fn check_cases(cases: Vec<Case>) {
    for case in cases {
        let parsed = rule(case.rule);
        let outcome = parsed.check(&case.candidate, case.current.as_ref(), NOW_MS);
        let expected = RuleOutcome {
            rule: parsed.to_string(),
            passed: case.passed,
            actual: case.actual.to_string(),
            required: case.required.to_string(),
        };
        assert_eq!(
            outcome, expected,
            "{} on {:?}",
            case.rule, case.candidate.metrics
        );
    }
}

#[test]
fn metric_thresholds_evaluate() {
    let auc = |value: f64| evidence("2", &[("val_auc", value)]);
    check_cases(vec![
        case(
            "metric: val_auc >= 0.9",
            auc(0.93),
            None,
            true,
            "0.93",
            ">= 0.9",
        ),
        case(
            "metric: val_auc >= 0.9",
            auc(0.9),
            None,
            true,
            "0.9",
            ">= 0.9",
        ),
        case(
            "metric: val_auc >= 0.9",
            auc(0.87),
            None,
            false,
            "0.87",
            ">= 0.9",
        ),
        case(
            "metric: val_auc > 0.9",
            auc(0.9),
            None,
            false,
            "0.9",
            "> 0.9",
        ),
        case(
            "metric: val_auc <= 0.9",
            auc(0.9),
            None,
            true,
            "0.9",
            "<= 0.9",
        ),
        case(
            "metric: val_auc < 0.9",
            auc(0.9),
            None,
            false,
            "0.9",
            "< 0.9",
        ),
        case(
            "metric: val_auc == 0.9",
            auc(0.9),
            None,
            true,
            "0.9",
            "== 0.9",
        ),
        case(
            "metric: val_auc != 0.9",
            auc(0.9),
            None,
            false,
            "0.9",
            "!= 0.9",
        ),
        case(
            "metric: val_auc != 0.9",
            auc(0.8),
            None,
            true,
            "0.8",
            "!= 0.9",
        ),
        case(
            "metric: val_auc >= 0.9",
            evidence("2", &[]),
            None,
            false,
            "missing",
            ">= 0.9",
        ),
        case(
            "metric: f1 >= 0.9",
            auc(0.99),
            None,
            false,
            "missing",
            ">= 0.9",
        ),
        case(
            "metric: val_auc >= 0.9",
            auc(f64::NAN),
            None,
            false,
            "NaN",
            ">= 0.9",
        ),
        case(
            "metric: val_auc <= 0.9",
            auc(f64::NAN),
            None,
            false,
            "NaN",
            "<= 0.9",
        ),
        case(
            "metric: val_auc != 0.9",
            auc(f64::NAN),
            None,
            false,
            "NaN",
            "!= 0.9",
        ),
        case(
            "metric: val_auc < inf",
            auc(f64::INFINITY),
            None,
            false,
            "inf",
            "< inf",
        ),
        case(
            "metric: val_auc > -1",
            auc(f64::NEG_INFINITY),
            None,
            false,
            "-inf",
            "> -1",
        ),
        case(
            "metric: val_auc >= 0.9",
            auc(0.1 + 0.2),
            None,
            false,
            "0.3",
            ">= 0.9",
        ),
        case(
            "metric: val/auc >= 0.5",
            evidence("2", &[("val/auc", 0.75)]),
            None,
            true,
            "0.75",
            ">= 0.5",
        ),
    ]);
}

#[test]
fn tag_rules_evaluate() {
    let tagged = |value: &str| with_tags(evidence("2", &[]), &[("validation.status", value)]);
    check_cases(vec![
        case(
            "tag: validation.status = passed",
            tagged("passed"),
            None,
            true,
            "'passed'",
            "= 'passed'",
        ),
        case(
            "tag: validation.status = passed",
            tagged("failed"),
            None,
            false,
            "'failed'",
            "= 'passed'",
        ),
        case(
            "tag: validation.status = passed",
            tagged("Passed"),
            None,
            false,
            "'Passed'",
            "= 'passed'",
        ),
        case(
            "tag: validation.status = passed",
            evidence("2", &[]),
            None,
            false,
            "missing",
            "= 'passed'",
        ),
        case(
            "tag: validation.status != failed",
            tagged("passed"),
            None,
            true,
            "'passed'",
            "!= 'failed'",
        ),
        case(
            "tag: validation.status != failed",
            tagged("failed"),
            None,
            false,
            "'failed'",
            "!= 'failed'",
        ),
        case(
            "tag: validation.status != failed",
            evidence("2", &[]),
            None,
            false,
            "missing",
            "!= 'failed'",
        ),
        case(
            "tag: \"validation.status != ''\"",
            tagged(""),
            None,
            false,
            "''",
            "!= ''",
        ),
    ]);
}

#[test]
fn comparisons_with_the_current_holder_evaluate() {
    let auc = |version: &str, value: f64| evidence(version, &[("val_auc", value)]);
    let latency = |version: &str, value: f64| evidence(version, &[("latency_ms", value)]);
    let absolute = "vs_current: { metric: val_auc, max_drop: 0.01 }";
    let relative = "vs_current: { metric: val_auc, max_drop_pct: 10 }";
    let lower_relative =
        "vs_current: { metric: latency_ms, lower_is_better: true, max_increase_pct: 10 }";
    let lower_absolute =
        "vs_current: { metric: latency_ms, lower_is_better: true, max_increase: 5 }";
    check_cases(vec![
        // nobody holds the alias: nothing to compare with
        case(
            absolute,
            auc("2", 0.5),
            None,
            true,
            "no current holder",
            ">= current - 0.01",
        ),
        case(
            absolute,
            evidence("2", &[]),
            None,
            true,
            "no current holder",
            ">= current - 0.01",
        ),
        case(
            lower_relative,
            latency("2", 900.0),
            None,
            true,
            "no current holder",
            "<= current + 10%",
        ),
        // absolute tolerance, higher is better
        case(
            absolute,
            auc("2", 0.95),
            Some(auc("1", 0.9)),
            true,
            "0.95 (current holder version 1: 0.9)",
            ">= 0.89",
        ),
        case(
            absolute,
            auc("2", 0.89),
            Some(auc("1", 0.9)),
            true,
            "0.89 (current holder version 1: 0.9)",
            ">= 0.89",
        ),
        case(
            absolute,
            auc("2", 0.885),
            Some(auc("1", 0.9)),
            false,
            "0.885 (current holder version 1: 0.9)",
            ">= 0.89",
        ),
        // relative tolerance, higher is better, including a negative current value
        case(
            relative,
            auc("2", 0.81),
            Some(auc("1", 0.9)),
            true,
            "0.81 (current holder version 1: 0.9)",
            ">= 0.81",
        ),
        case(
            relative,
            auc("2", 0.8),
            Some(auc("1", 0.9)),
            false,
            "0.8 (current holder version 1: 0.9)",
            ">= 0.81",
        ),
        case(
            relative,
            auc("2", -2.1),
            Some(auc("1", -2.0)),
            true,
            "-2.1 (current holder version 1: -2)",
            ">= -2.2",
        ),
        case(
            relative,
            auc("2", -2.3),
            Some(auc("1", -2.0)),
            false,
            "-2.3 (current holder version 1: -2)",
            ">= -2.2",
        ),
        case(
            relative,
            auc("2", 0.0),
            Some(auc("1", 0.0)),
            true,
            "0 (current holder version 1: 0)",
            ">= 0",
        ),
        case(
            relative,
            auc("2", -0.001),
            Some(auc("1", 0.0)),
            false,
            "-0.001 (current holder version 1: 0)",
            ">= 0",
        ),
        // lower is better
        case(
            lower_relative,
            latency("2", 110.0),
            Some(latency("1", 100.0)),
            true,
            "110 (current holder version 1: 100)",
            "<= 110",
        ),
        case(
            lower_relative,
            latency("2", 111.0),
            Some(latency("1", 100.0)),
            false,
            "111 (current holder version 1: 100)",
            "<= 110",
        ),
        case(
            lower_relative,
            latency("2", 50.0),
            Some(latency("1", 100.0)),
            true,
            "50 (current holder version 1: 100)",
            "<= 110",
        ),
        case(
            lower_relative,
            latency("2", -9.5),
            Some(latency("1", -10.0)),
            true,
            "-9.5 (current holder version 1: -10)",
            "<= -9",
        ),
        case(
            lower_relative,
            latency("2", -8.0),
            Some(latency("1", -10.0)),
            false,
            "-8 (current holder version 1: -10)",
            "<= -9",
        ),
        case(
            lower_absolute,
            latency("2", 105.0),
            Some(latency("1", 100.0)),
            true,
            "105 (current holder version 1: 100)",
            "<= 105",
        ),
        case(
            lower_absolute,
            latency("2", 105.5),
            Some(latency("1", 100.0)),
            false,
            "105.5 (current holder version 1: 100)",
            "<= 105",
        ),
        // missing and NaN values
        case(
            absolute,
            evidence("2", &[]),
            Some(auc("1", 0.9)),
            false,
            "missing",
            ">= current - 0.01",
        ),
        case(
            absolute,
            auc("2", f64::NAN),
            Some(auc("1", 0.9)),
            false,
            "NaN",
            ">= current - 0.01",
        ),
        case(
            absolute,
            auc("2", 0.5),
            Some(evidence("1", &[])),
            true,
            "0.5 (current holder version 1 has no val_auc, nothing to compare)",
            ">= current - 0.01",
        ),
        case(
            absolute,
            auc("2", 0.5),
            Some(auc("1", f64::NAN)),
            true,
            "0.5 (current holder version 1 has val_auc NaN, nothing to compare)",
            ">= current - 0.01",
        ),
    ]);
}

#[test]
fn run_age_evaluates() {
    let ended_days_ago = |days: f64| {
        with_times(
            evidence("2", &[]),
            Some(0),
            Some(NOW_MS - (days * DAY_MS as f64) as i64),
        )
    };
    check_cases(vec![
        case(
            "max_run_age: 30d",
            ended_days_ago(1.0),
            None,
            true,
            "1d",
            "<= 30d",
        ),
        case(
            "max_run_age: 30d",
            ended_days_ago(30.0),
            None,
            true,
            "30d",
            "<= 30d",
        ),
        case(
            "max_run_age: 30d",
            ended_days_ago(31.5),
            None,
            false,
            "31.5d",
            "<= 30d",
        ),
        case(
            "max_run_age: 30d",
            ended_days_ago(30.0001),
            None,
            false,
            "30.0001d",
            "<= 30d",
        ),
        case(
            "max_run_age: 12h",
            ended_days_ago(1.0),
            None,
            false,
            "24h",
            "<= 12h",
        ),
        case(
            "max_run_age: 1w",
            ended_days_ago(3.5),
            None,
            true,
            "0.5w",
            "<= 1w",
        ),
        // ended in the future (clock skew): age zero
        case(
            "max_run_age: 1d",
            ended_days_ago(-2.0),
            None,
            true,
            "0d",
            "<= 1d",
        ),
        // still running: the start time counts
        case(
            "max_run_age: 7d",
            with_times(evidence("2", &[]), Some(NOW_MS - 10 * DAY_MS), None),
            None,
            false,
            "10d",
            "<= 7d",
        ),
        case(
            "max_run_age: 7d",
            with_times(
                evidence("2", &[]),
                Some(NOW_MS - 10 * DAY_MS),
                Some(NOW_MS - 2 * DAY_MS),
            ),
            None,
            true,
            "2d",
            "<= 7d",
        ),
        case(
            "max_run_age: 7d",
            evidence("2", &[]),
            None,
            false,
            "source run has no start or end time",
            "<= 7d",
        ),
        case(
            "max_run_age: 7d",
            without_run(with_times(evidence("2", &[]), Some(NOW_MS), None)),
            None,
            false,
            "no source run",
            "<= 7d",
        ),
    ]);
}

#[test]
fn dataset_inputs_evaluate() {
    let inputs = |datasets: &[(&str, Option<&str>)]| with_datasets(evidence("2", &[]), datasets);
    check_cases(vec![
        case(
            "dataset_input: train",
            inputs(&[("train", None)]),
            None,
            true,
            "dataset inputs 'train'",
            "a dataset input named or with context 'train'",
        ),
        case(
            "dataset_input: training",
            inputs(&[("iris", Some("training")), ("wine", None)]),
            None,
            true,
            "dataset inputs 'iris' (training), 'wine'",
            "a dataset input named or with context 'training'",
        ),
        case(
            "dataset_input: train",
            inputs(&[("iris", Some("eval"))]),
            None,
            false,
            "dataset inputs 'iris' (eval)",
            "a dataset input named or with context 'train'",
        ),
        case(
            "dataset_input: train",
            inputs(&[]),
            None,
            false,
            "no dataset inputs",
            "a dataset input named or with context 'train'",
        ),
        case(
            "dataset_input: any",
            inputs(&[("x", None)]),
            None,
            true,
            "dataset inputs 'x'",
            "at least one dataset input",
        ),
        case(
            "dataset_input: any",
            inputs(&[]),
            None,
            false,
            "no dataset inputs",
            "at least one dataset input",
        ),
        case(
            "dataset_input: any",
            without_run(inputs(&[])),
            None,
            false,
            "no source run",
            "at least one dataset input",
        ),
    ]);
}

#[test]
fn evaluation_collects_every_rule_and_summarizes_failures() {
    let rules: Vec<Rule> = [
        "metric: val_auc >= 0.9",
        "vs_current: { metric: val_auc, max_drop: 0.01 }",
        "tag: validation.status = passed",
        "max_run_age: 30d",
        "dataset_input: train",
    ]
    .into_iter()
    .map(rule)
    .collect();
    let candidate = with_datasets(
        with_times(
            with_tags(
                evidence("3", &[("val_auc", 0.87)]),
                &[("validation.status", "passed")],
            ),
            Some(NOW_MS - 3 * DAY_MS),
            Some(NOW_MS - 2 * DAY_MS),
        ),
        &[("train", Some("training"))],
    );
    let current = evidence("2", &[("val_auc", 0.9)]);
    let evaluation = evaluate(&rules, &candidate, Some(&current), NOW_MS);
    let passed: Vec<bool> = evaluation
        .results
        .iter()
        .map(|outcome| outcome.passed)
        .collect();
    assert_eq!(passed, [false, false, true, true, true]);
    assert!(!evaluation.allowed());
    assert_eq!(evaluation.failures().len(), 2);
    assert_eq!(
        evaluation.summary(),
        "metrics.val_auc >= 0.9: actual 0.87, required >= 0.9\n\
         val_auc not worse than current holder by more than 0.01: actual 0.87 (current holder version 2: 0.9), required >= 0.89"
    );
    let json = serde_json::to_value(&evaluation).unwrap();
    assert_eq!(
        json["results"][0],
        serde_json::json!({
            "rule": "metrics.val_auc >= 0.9",
            "passed": false,
            "actual": "0.87",
            "required": ">= 0.9"
        })
    );

    let good = evidence("3", &[("val_auc", 0.95)]);
    let evaluation = evaluate(&rules[..2], &good, Some(&current), NOW_MS);
    assert!(evaluation.allowed());
    assert_eq!(evaluation.summary(), "");

    let nothing = evaluate(&[], &candidate, None, NOW_MS);
    assert!(nothing.allowed());
    assert_eq!(nothing.results, []);
}

#[test]
fn numbers_display_compactly() {
    let cases = [
        (0.9, "0.9"),
        (1.0, "1"),
        (-2.0, "-2"),
        (0.0, "0"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
        (0.9 - 0.01, "0.89"),
        (123456.789, "123456.789"),
        (0.0001, "0.0001"),
        (0.00001234, "1.234e-5"),
        (1e15, "1e15"),
        (123456789012345.0, "123456789012345"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ];
    for (value, expected) in cases {
        assert_eq!(display_number(value), expected, "{value:?}");
    }
}

// ---------------------------------------------------------------------------------------------------
// The policy file

const EXAMPLE_POLICY: &str = r#"
version: 1
naming:
  registered_model_name:
    template: "{team}-{model}"
  experiment_name:
    regex: "^[a-z][a-z0-9-]*$"
    example: "fraud-detection"
  metric_key:
    template: "{name}"
    chars: "a-z0-9_"
default:
  aliases:
    champion:
      - metric: "val_auc >= 0.9"
      - vs_current: { metric: val_auc, max_drop: 0.01 }
      - vs_current: { metric: latency_ms, lower_is_better: true, max_increase_pct: 10 }
      - tag: "validation.status = passed"
      - max_run_age: 30d
      - dataset_input: train
  stages:
    Production:
      - metric: "val_auc >= 0.85"
models:
  fraud-model:
    aliases:
      production:
        - metric: "f1 > 0.7"
"#;

#[test]
fn the_example_policy_parses() {
    let policy = PolicyFile::from_yaml(EXAMPLE_POLICY).unwrap();
    assert_eq!(policy.version, 1);

    let champion: Vec<String> = policy
        .default
        .alias_rules("champion")
        .unwrap()
        .iter()
        .map(Rule::to_string)
        .collect();
    assert_eq!(
        champion,
        [
            "metrics.val_auc >= 0.9",
            "val_auc not worse than current holder by more than 0.01",
            "latency_ms not worse than current holder by more than 10% (lower is better)",
            "tags.validation.status = passed",
            "run age <= 30d",
            "dataset input 'train'",
        ]
    );
    assert_eq!(
        policy.default.alias_rules("Champion"),
        None,
        "aliases compare exactly"
    );
    assert_eq!(policy.default.alias_rules("challenger"), None);
    for stage in ["Production", "production", "PRODUCTION", " Production "] {
        let rules = policy.default.stage_rules(stage).unwrap();
        assert_eq!(
            rules,
            [Rule::parse("metric", "val_auc >= 0.85").unwrap()],
            "{stage}"
        );
    }
    assert_eq!(policy.default.stage_rules("Staging"), None);

    // a model with its own section uses it instead of the default
    let fraud = policy.model_policy("fraud-model");
    assert_eq!(fraud.alias_rules("production").unwrap().len(), 1);
    assert_eq!(fraud.alias_rules("champion"), None);
    assert_eq!(fraud.stage_rules("Production"), None);
    assert_eq!(policy.model_policy("other-model"), &policy.default);

    let naming = &policy.naming;
    assert!(naming.rule(NamedThing::RunName).is_none());
    assert_eq!(
        naming
            .rule(NamedThing::RegisteredModelName)
            .unwrap()
            .source(),
        "{team}-{model}"
    );
    assert!(naming
        .check(NamedThing::RegisteredModelName, "risk-fraud")
        .is_ok());
    assert!(naming.check(NamedThing::RunName, "Anything Goes!").is_ok());
    assert_eq!(
        naming.check(NamedThing::ExperimentName, "My Exp").unwrap_err().to_string(),
        "experiment name 'My Exp' does not follow the naming rule '^[a-z][a-z0-9-]*$': expected something like 'fraud-detection'"
    );
}

#[test]
fn policies_round_trip_through_yaml_and_json() {
    let policy = PolicyFile::from_yaml(EXAMPLE_POLICY).unwrap();
    let yaml = policy.to_yaml();
    assert_eq!(PolicyFile::from_yaml(&yaml).unwrap(), policy, "{yaml}");
    let json = policy.to_json();
    assert_eq!(PolicyFile::from_json(&json).unwrap(), policy, "{json}");
    // JSON and YAML share one shape: the JSON text is also YAML
    assert_eq!(PolicyFile::from_yaml(&json).unwrap(), policy);

    let value = serde_json::to_value(&policy).unwrap();
    assert_eq!(value["version"], 1);
    assert_eq!(
        value["default"]["aliases"]["champion"][2],
        serde_json::json!({"vs_current": {"metric": "latency_ms", "lower_is_better": true, "max_increase_pct": 10.0}})
    );
    assert_eq!(
        value["naming"]["experiment_name"],
        serde_json::json!({"regex": "^[a-z][a-z0-9-]*$", "example": "fraud-detection"})
    );
    assert_eq!(
        value["naming"]["metric_key"],
        serde_json::json!({"template": "{name}", "chars": "a-z0-9_"})
    );
    assert_eq!(
        value["models"]["fraud-model"]["aliases"]["production"][0],
        serde_json::json!({"metric": "f1 > 0.7"})
    );
}

#[test]
fn empty_policies_have_no_rules() {
    for text in [
        "",
        "   \n",
        "# nothing yet\n",
        "version: 1",
        "version: 1\nmodels: {}\n",
    ] {
        let policy = PolicyFile::from_yaml(text).unwrap();
        assert_eq!(policy, PolicyFile::default(), "{text:?}");
        assert_eq!(policy.model_policy("any").alias_rules("champion"), None);
        assert_eq!(
            policy.naming.check(NamedThing::ExperimentName, "Whatever"),
            Ok(())
        );
    }
    assert_eq!(
        PolicyFile::from_json("null").unwrap(),
        PolicyFile::default()
    );
    assert_eq!(
        PolicyFile::from_json(r#"{"version": 1}"#).unwrap(),
        PolicyFile::default()
    );
    assert_eq!(
        PolicyFile::from_yaml(&PolicyFile::default().to_yaml()).unwrap(),
        PolicyFile::default()
    );
}

fn check_load_error(yaml: &str, needles: &[&str]) {
    let error = PolicyFile::from_yaml(yaml).unwrap_err();
    let message = error.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "{yaml}\nmessage {message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn bad_policy_files_are_refused_with_a_location() {
    let cases: &[(&str, &[&str])] = &[
        (
            "version: 2",
            &["unsupported policy version 2: this cairn reads version 1"],
        ),
        (
            "version: 2\nfuture_section: {}\n",
            &["unsupported policy version 2"],
        ),
        ("version: 0", &["unsupported policy version 0"]),
        ("version: '1'", &["unsupported policy version 1"]),
        ("version: 1.0", &["unsupported policy version 1.0"]),
        (
            "default: {}",
            &["the policy file has no version: add 'version: 1'"],
        ),
        (
            "version: 1\nnamin: {}\n",
            &["unknown field `namin`", "line 2 column 1"],
        ),
        (
            "version: 1\ndefault:\n  alias:\n    champion: []\n",
            &[
                "default: unknown field `alias`",
                "expected `aliases` or `stages`",
                "line 3",
            ],
        ),
        (
            "version: 1\ndefault:\n  aliases:\n    champion:\n      - metric: val_auc >> 0.9\n",
            &[
                "invalid rule 'metric: val_auc >> 0.9'",
                "unknown operator '>>'",
                "line 5",
            ],
        ),
        (
            "version: 1\nmodels:\n  m:\n    aliases:\n      a:\n        - max_run_age: 30y\n",
            &[
                "models.m.aliases.a[0]",
                "invalid rule 'max_run_age: 30y'",
                "line 6",
            ],
        ),
        (
            "version: 1\ndefault:\n  stages:\n    Prod: []\n",
            &[
                "default.stages: unknown stage 'Prod'",
                "None, Staging, Production, Archived",
                "line 4",
            ],
        ),
        (
            "version: 1\ndefault:\n  stages:\n    Production: []\n    production: []\n",
            &["stage 'Production' is listed twice (stage names ignore case)"],
        ),
        (
            "version: 1\ndefault:\n  aliases:\n    a: []\n    a: []\n",
            &["alias 'a' is listed twice"],
        ),
        (
            "version: 1\ndefault:\n  aliases:\n    '': []\n",
            &["an alias name is empty", "line 4"],
        ),
        (
            "version: 1\ndefault:\n  aliases:\n    a: metric\n",
            &["expected a sequence", "line 4"],
        ),
        (
            "version: 1\nnaming:\n  experiment_name:\n    template: '{team'\n",
            &[
                "invalid naming rule for experiment_name.template",
                "unclosed '{' at character 1",
                "line 3",
            ],
        ),
        (
            "version: 1\nnaming:\n  run_name:\n    regex: '[a-z'\n",
            &[
                "invalid naming rule for run_name.regex",
                "'[a-z' does not compile",
            ],
        ),
        (
            "version: 1\nnaming:\n  run_name: {regex: a}\n  run_name: {regex: b}\n",
            &["duplicate field `run_name`"],
        ),
        (
            "version: 1\nnaming:\n  run_nam: {regex: x}\n",
            &["unknown field `run_nam`"],
        ),
        (
            "version: 1\nnaming:\n  run_name: {regexp: x}\n",
            &["unknown field `regexp`"],
        ),
        ("version: 1\ndefault: [\n", &["invalid policy file", "line"]),
        (
            "- just a list",
            &[
                "invalid policy file",
                "invalid type: sequence, expected a policy file: a map with version",
            ],
        ),
    ];
    for (yaml, needles) in cases {
        check_load_error(yaml, needles);
    }
    let json_error = PolicyFile::from_json("{\"version\": 1, \"models\": 3}")
        .unwrap_err()
        .to_string();
    assert!(json_error.contains("line 1 column"), "{json_error}");
    let json_naming_error =
        PolicyFile::from_json(r#"{"version": 1, "naming": {"tag_key": {"template": "{}"}}}"#)
            .unwrap_err()
            .to_string();
    assert!(
        json_naming_error.contains("invalid naming rule for tag_key.template: empty placeholder"),
        "{json_naming_error}"
    );
    assert_eq!(
        PolicyFile::from_json("{\"version\": 3}").unwrap_err(),
        PolicyError::UnsupportedVersion {
            found: "3".to_string()
        }
    );
}

#[test]
fn stages_are_stored_in_canonical_spelling() {
    let policy = PolicyFile::from_yaml(
        "version: 1\ndefault:\n  stages:\n    staging: []\n    ARCHIVED: []\n",
    )
    .unwrap();
    let stages: Vec<&str> = policy.default.stages.keys().map(String::as_str).collect();
    assert_eq!(stages, ["Archived", "Staging"]);
    assert_eq!(policy.default.stage_rules("archived"), Some(&[][..]));
}

// ---------------------------------------------------------------------------------------------------
// Naming

fn check_name(rule: &NameRule, value: &str, matches: bool) {
    assert_eq!(
        rule.matches(value),
        matches,
        "{:?} against {value:?}",
        rule.source()
    );
}

#[test]
fn templates_match_whole_names() {
    let team_model = NameRule::template("{team}-{model}", None, None).unwrap();
    for (value, matches) in [
        ("risk-fraud", true),
        ("risk-fraud_v2", true),
        ("a-b", true),
        ("risk-fraud-detector", false), // the default class holds no '-'
        ("risk_team-fraud_2", true),
        ("riskfraud", false),
        ("-fraud", false),
        ("risk-", false),
        ("Risk-fraud", false),
        ("risk fraud", false),
        ("x risk-fraud", false),
        ("risk-fraud\n", false),
        ("", false),
    ] {
        check_name(&team_model, value, matches);
    }

    // literals are escaped: '.' and '+' mean themselves
    let dotted = NameRule::template("{team}.{model}+v{n}", Some("a-z0-9"), None).unwrap();
    for (value, matches) in [
        ("risk.fraud+v2", true),
        ("riskxfraud+v2", false),
        ("risk.fraud+++v2", false),
        ("risk.fraudv2", false),
        ("risk.fraud+v", false),
        ("risk.fraud+v2_", false),
    ] {
        check_name(&dotted, value, matches);
    }

    let digits = NameRule::template("exp-{number}", Some("0-9"), None).unwrap();
    for (value, matches) in [
        ("exp-42", true),
        ("exp-", false),
        ("exp-4a", false),
        ("EXP-42", false),
    ] {
        check_name(&digits, value, matches);
    }

    let literal = NameRule::template("(fixed)*", None, None).unwrap();
    for (value, matches) in [("(fixed)*", true), ("fixed", false), ("(fixed)", false)] {
        check_name(&literal, value, matches);
    }

    let paths = NameRule::template("{dir}/{file}", Some("a-zA-Z0-9_."), None).unwrap();
    for (value, matches) in [
        ("model/MLmodel", true),
        ("model/sub/MLmodel", false),
        ("MLmodel", false),
    ] {
        check_name(&paths, value, matches);
    }
}

#[test]
fn regexes_match_whole_names() {
    let cases: &[(&str, &[(&str, bool)])] = &[
        (
            "^[a-z][a-z0-9-]*$",
            &[
                ("fraud-detection", true),
                ("Fraud", false),
                ("9lives", false),
                ("", false),
            ],
        ),
        ("[a-z]+", &[("abc", true), ("abc1", false), ("1abc", false)]),
        ("^[a-z]+", &[("abc", true), ("abc1", false)]),
        ("[a-z]+$", &[("abc", true), ("1abc", false)]),
        (
            "prod|staging",
            &[
                ("prod", true),
                ("staging", true),
                ("production", false),
                ("pre-staging", false),
            ],
        ),
        (r"\w+\.v\d+", &[("model.v2", true), ("model-v2", false)]),
        (".*", &[("", true), ("anything at all", true)]),
    ];
    for (pattern, values) in cases {
        let rule = NameRule::regex(pattern, None).unwrap();
        for (value, matches) in *values {
            check_name(&rule, value, *matches);
        }
    }
}

#[test]
fn bad_name_rules_are_load_errors() {
    let template_cases: &[(&str, Option<&str>, &[&str])] = &[
        (
            "{team",
            None,
            &[
                "template",
                "unclosed '{' at character 1 in template '{team'",
            ],
        ),
        ("{team}-{", None, &["unclosed '{' at character 8"]),
        ("{team}-{}", None, &["empty placeholder at character 8"]),
        ("{team}-{ }", None, &["empty placeholder"]),
        (
            "{te{am}",
            None,
            &["'{' at character 4 inside a placeholder"],
        ),
        ("team}", None, &["unmatched '}' at character 5"]),
        ("", None, &["the template is empty"]),
        (
            "{team}",
            Some(""),
            &["chars", "the character class is empty"],
        ),
        (
            "{team}",
            Some("[a-z]"),
            &["chars", "write the class without brackets"],
        ),
        ("{team}", Some("a-z]|.*|[b"), &["chars", "holds '[' or ']'"]),
        (
            "{team}",
            Some("z-a"),
            &["chars", "'z-a' is not a character class"],
        ),
    ];
    for (template, chars, needles) in template_cases {
        let message = NameRule::template(template, *chars, None)
            .unwrap_err()
            .to_string();
        for needle in *needles {
            assert!(
                message.contains(needle),
                "{template:?} {chars:?}: {message:?} lacks {needle:?}"
            );
        }
    }
    let regex_cases: &[(&str, &[&str])] = &[
        ("[a-z", &["regex", "'[a-z' does not compile"]),
        ("a)|(b", &["'a)|(b' does not compile"]),
        ("(?P<x", &["does not compile"]),
    ];
    for (pattern, needles) in regex_cases {
        let message = NameRule::regex(pattern, None).unwrap_err().to_string();
        for needle in *needles {
            assert!(
                message.contains(needle),
                "{pattern:?}: {message:?} lacks {needle:?}"
            );
        }
    }
    let example_error = NameRule::regex("[a-z]+", Some("Nope"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        example_error,
        "invalid naming rule for example: the example 'Nope' does not follow the rule itself"
    );
    let both = serde_yaml_ng::from_str::<NamingPolicy>("tag_key: { template: '{a}', regex: 'a' }")
        .unwrap_err()
        .to_string();
    assert!(
        both.contains("tag_key.template: give either a template or a regex, not both"),
        "{both}"
    );
    let neither = serde_yaml_ng::from_str::<NamingPolicy>("tag_key: { example: 'a' }")
        .unwrap_err()
        .to_string();
    assert!(neither.contains("give a template"), "{neither}");
    let chars_on_regex =
        serde_yaml_ng::from_str::<NamingPolicy>("tag_key: { regex: 'a', chars: 'a-z' }")
            .unwrap_err()
            .to_string();
    assert!(
        chars_on_regex.contains("tag_key.chars: chars applies to a template"),
        "{chars_on_regex}"
    );
}

#[test]
fn examples_are_generated_and_follow_their_rule() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("{team}-{project}", None, "team-project"),
        (
            "{team}-{project}-{model}",
            Some("a-z0-9"),
            "team-project-model",
        ),
        ("{Team_Name}.{Model}", None, "team_name.model"),
        ("{Team_Name}.{Model}", Some("a-z"), "teamname.model"),
        ("exp-{number}", Some("0-9"), "exp-0"),
        ("{team}", Some("A-Z"), "A"),
        ("{?}-x", None, "x-x"),
        ("prefix/{name}", Some("a-z/"), "prefix/name"),
    ];
    for (template, chars, expected) in cases {
        let rule = NameRule::template(template, *chars, None).unwrap();
        assert_eq!(rule.example(), *expected, "{template} {chars:?}");
        assert!(
            rule.matches(rule.example()),
            "{template}: example {:?} does not match",
            rule.example()
        );
    }
    let configured = NameRule::template("{team}-{model}", None, Some("risk-fraud")).unwrap();
    assert_eq!(configured.example(), "risk-fraud");
    let regex = NameRule::regex("^[a-z]+$", None).unwrap();
    assert_eq!(regex.example(), "a value matching ^[a-z]+$");
    assert_eq!(regex.compiled_regex(), "^(?:^[a-z]+$)$");
}

fn naming_policy(yaml: &str) -> NamingPolicy {
    serde_yaml_ng::from_str(yaml).unwrap()
}

#[test]
fn naming_violations_explain_themselves() {
    let naming = naming_policy(
        "experiment_name: { template: '{team}-{project}' }\n\
         registered_model_name: { regex: '^[a-z]+$' }\n\
         tag_key: { regex: '[a-z.]+', example: 'team.owner' }\n\
         artifact_path: { template: 'models/{name}', chars: 'a-z0-9_/' }\n",
    );
    let cases: &[(NamedThing, &str, Option<&str>)] = &[
        (
            NamedThing::ExperimentName,
            "My Exp",
            Some("experiment name 'My Exp' does not follow the naming rule '{team}-{project}': expected something like 'team-project'"),
        ),
        (NamedThing::ExperimentName, "risk-fraud", None),
        (
            NamedThing::RegisteredModelName,
            "Fraud",
            Some("registered model name 'Fraud' does not follow the naming rule '^[a-z]+$': expected a value matching ^[a-z]+$"),
        ),
        (NamedThing::RegisteredModelName, "fraud", None),
        (
            NamedThing::TagKey,
            "Owner",
            Some("tag key 'Owner' does not follow the naming rule '[a-z.]+': expected something like 'team.owner'"),
        ),
        (NamedThing::ArtifactPath, "models/fraud/v2", None),
        (
            NamedThing::ArtifactPath,
            "plots/roc.png",
            Some("artifact path 'plots/roc.png' does not follow the naming rule 'models/{name}': expected something like 'models/name'"),
        ),
        (NamedThing::RunName, "Anything!", None),
        (NamedThing::MetricKey, "Anything!", None),
        (NamedThing::ParamKey, "Anything!", None),
    ];
    for (thing, value, expected) in cases {
        let result = naming
            .check(*thing, value)
            .map_err(|violation| violation.to_string());
        assert_eq!(
            result,
            expected.map_or(Ok(()), |message| Err(message.to_string())),
            "{thing} {value:?}"
        );
    }
    let violation = naming
        .check(NamedThing::ExperimentName, "My Exp")
        .unwrap_err();
    assert_eq!(
        serde_json::to_value(&violation).unwrap(),
        serde_json::json!({
            "thing": "experiment_name",
            "value": "My Exp",
            "rule": "{team}-{project}",
            "example": "team-project"
        })
    );
    let error: crate::Error = violation.into();
    assert_eq!(error.kind, crate::ErrorKind::InvalidParameterValue);
}

#[test]
fn named_things_display_and_field_names() {
    let names: BTreeMap<String, &str> = NamedThing::ALL
        .iter()
        .map(|thing| (thing.to_string(), thing.field_name()))
        .collect();
    assert_eq!(
        names,
        BTreeMap::from([
            ("artifact path".to_string(), "artifact_path"),
            ("experiment name".to_string(), "experiment_name"),
            ("metric key".to_string(), "metric_key"),
            ("param key".to_string(), "param_key"),
            ("registered model name".to_string(), "registered_model_name"),
            ("run name".to_string(), "run_name"),
            ("tag key".to_string(), "tag_key"),
        ])
    );
}

#[test]
fn names_mlflow_writes_itself_are_exempt() {
    let policy = PolicyFile::from_yaml(
        "version: 1\nnaming:\n  tag_key:\n    regex: '^[a-z_]+$'\n  metric_key:\n    regex: '^[a-z_]+$'\n  param_key:\n    regex: '^[a-z_]+$'\n",
    )
    .unwrap();
    let check = |thing: NamedThing, value: &str, ok: bool| {
        assert_eq!(
            policy.naming.check(thing, value).is_ok(),
            ok,
            "{thing} {value}"
        );
    };
    check(NamedThing::TagKey, "mlflow.user", true);
    check(NamedThing::TagKey, "mlflow.source.git.commit", true);
    check(NamedThing::TagKey, "Team", false);
    check(NamedThing::TagKey, "owner", true);
    check(
        NamedThing::MetricKey,
        "system/cpu_utilization_percentage",
        true,
    );
    check(NamedThing::MetricKey, "Val-AUC", false);
    // Only the thing whose system names they are.
    check(NamedThing::ParamKey, "mlflow.x", false);
    check(NamedThing::ParamKey, "system/x", false);
    check(NamedThing::MetricKey, "mlflow.x", false);
}

// Gate rules (shared with promotion policies)

#[test]
fn tag_present_needs_only_the_key() {
    let present = rule("tag_present: owner");
    let outcome = present.check(
        &with_tags(evidence("1", &[]), &[("owner", "")]),
        None,
        NOW_MS,
    );
    assert!(outcome.passed);
    let outcome = present.check(&evidence("1", &[]), None, NOW_MS);
    assert!(!outcome.passed);
    assert_eq!(outcome.actual, "missing");
}

#[test]
fn vs_baseline_names_the_baseline() {
    let compare = rule("vs_baseline: { metric: auc, max_drop: 0.01 }");
    let mut baseline = evidence("", &[("auc", 0.9)]);
    baseline.label = Some("baseline champion (version 3)".into());
    let outcome = compare.check(&evidence("2", &[("auc", 0.895)]), Some(&baseline), NOW_MS);
    assert!(outcome.passed);
    assert_eq!(outcome.actual, "0.895 (baseline champion (version 3): 0.9)");
    let outcome = compare.check(&evidence("2", &[("auc", 0.88)]), Some(&baseline), NOW_MS);
    assert!(!outcome.passed);
    let outcome = compare.check(&evidence("2", &[("auc", 0.1)]), None, NOW_MS);
    assert!(outcome.passed);
    assert_eq!(outcome.actual, "no baseline");
    assert!(outcome.required.contains("baseline"));
}

#[test]
fn slice_gap_takes_the_worst_column() {
    let gap = rule("max_slice_gap: 'f1_score <= 0.05'");
    let candidate = evidence(
        "1",
        &[
            ("slice_gap/region/f1_score", 0.04),
            ("slice_gap/age band/f1_score", 0.07),
            ("slice_gap/region/accuracy_score", 0.5),
            ("f1_score", 0.9),
        ],
    );
    let outcome = gap.check(&candidate, None, NOW_MS);
    assert!(!outcome.passed);
    assert_eq!(outcome.actual, "0.07 (slices of age band)");
    let outcome = gap.check(
        &evidence("1", &[("slice_gap/region/f1_score", 0.05)]),
        None,
        NOW_MS,
    );
    assert!(outcome.passed);
    let outcome = gap.check(&evidence("1", &[("f1_score", 0.9)]), None, NOW_MS);
    assert!(!outcome.passed);
    assert!(outcome.actual.contains("--slice-by"));
    let outcome = gap.check(
        &evidence("1", &[("slice_gap/r/f1_score", f64::NAN)]),
        None,
        NOW_MS,
    );
    assert!(!outcome.passed);
}

#[test]
fn data_validation_reads_the_run_tag_then_the_datasets() {
    let validation = rule("data_validation: passed");
    let tagged = with_tags(evidence("1", &[]), &[("validation.status", "passed")]);
    assert!(validation.check(&tagged, None, NOW_MS).passed);
    let failed = with_tags(evidence("1", &[]), &[("validation.status", "failed")]);
    assert!(!validation.check(&failed, None, NOW_MS).passed);
    let untagged = with_datasets(evidence("1", &[]), &[("train", Some("training"))]);
    let outcome = validation.check(&untagged, None, NOW_MS);
    assert!(!outcome.passed);
    assert!(outcome.actual.contains("no validation"));
    let mut validated = untagged.clone();
    validated.validations = vec![ValidationEvidence {
        dataset: "train".into(),
        digest: "digest-train".into(),
        run_id: "v1".into(),
        passed: true,
    }];
    assert!(validation.check(&validated, None, NOW_MS).passed);
    validated.validations.push(ValidationEvidence {
        dataset: "test".into(),
        digest: "d2".into(),
        run_id: "v2".into(),
        passed: false,
    });
    let outcome = validation.check(&validated, None, NOW_MS);
    assert!(!outcome.passed);
    assert!(outcome.actual.contains("'test' failed (run v2)"));
}

#[test]
fn dataset_age_is_the_oldest_first_use() {
    let age = rule("max_dataset_age: 30d");
    let mut candidate = with_datasets(evidence("1", &[]), &[("a", None), ("b", None)]);
    candidate.datasets[0].first_seen_ms = Some(NOW_MS - 10 * DAY_MS);
    candidate.datasets[1].first_seen_ms = Some(NOW_MS - 40 * DAY_MS);
    let outcome = age.check(&candidate, None, NOW_MS);
    assert!(!outcome.passed);
    assert_eq!(outcome.actual, "40d ('b')");
    candidate.datasets[1].first_seen_ms = Some(NOW_MS - 20 * DAY_MS);
    assert!(age.check(&candidate, None, NOW_MS).passed);
    candidate.datasets[1].first_seen_ms = None;
    assert!(!age.check(&candidate, None, NOW_MS).passed);
    assert!(!age.check(&evidence("1", &[]), None, NOW_MS).passed);
}

#[test]
fn latency_budget_prefers_the_benchmark_run() {
    let budget = rule("latency_budget: 'latency_p99_ms <= 50'");
    let mut candidate = evidence("1", &[("latency_p99_ms", 10.0)]);
    assert!(budget.check(&candidate, None, NOW_MS).passed);
    candidate.benchmark = Some(BenchmarkEvidence {
        run_id: "bench".into(),
        metrics: [("latency_p99_ms".to_string(), 80.0)].into_iter().collect(),
    });
    let outcome = budget.check(&candidate, None, NOW_MS);
    assert!(!outcome.passed);
    assert_eq!(outcome.actual, "80 (benchmark run bench)");
    candidate.benchmark = Some(BenchmarkEvidence::default());
    assert!(budget
        .check(&candidate, None, NOW_MS)
        .actual
        .starts_with("missing"));
}

#[test]
fn gate_rules_round_trip_through_yaml() {
    for text in [
        "tag_present: owner",
        "max_slice_gap: f1_score <= 0.05",
        "data_validation: passed",
        "max_dataset_age: 30d",
        "latency_budget: latency_p99_ms <= 50",
    ] {
        let parsed = rule(text);
        let written = serde_yaml_ng::to_string(&parsed).unwrap();
        assert_eq!(rule(&written), parsed, "{text}");
    }
}
