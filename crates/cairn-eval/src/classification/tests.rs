//! Values checked by hand and against scikit-learn 1.9.1 (the numbers in comments).

use super::*;

fn close(actual: Option<f64>, expected: f64) {
    let actual = actual.unwrap_or(f64::NAN);
    assert!(
        (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
        "{actual} != {expected}"
    );
}

fn evaluate(
    options: ClassificationOptions,
    rows: &[(&str, &str, &[f64], &str)],
    chunk: usize,
) -> Evaluation {
    let sliced = !options.slice_columns.is_empty();
    let mut accumulator = ClassificationAccumulator::new(options).unwrap_or_else(|e| panic!("{e}"));
    for part in rows.chunks(chunk) {
        for (label, prediction, probabilities, slice) in part {
            let cell = if sliced {
                accumulator.cell(&[slice])
            } else {
                accumulator.cell(&[])
            };
            accumulator
                .push(cell, label, prediction, probabilities)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    accumulator.finish().unwrap_or_else(|e| panic!("{e}"))
}

const BINARY: &[(&str, &str, &[f64], &str)] = &[
    ("0", "0", &[0.1], "a"),
    ("1", "1", &[0.8], "a"),
    ("1", "0", &[0.4], "b"),
    ("0", "0", &[0.3], "b"),
    ("1", "1", &[0.9], "a"),
    ("1", "1", &[0.7], "b"),
];

#[test]
fn binary_with_probabilities() {
    let options = ClassificationOptions {
        probabilities: Probabilities::Binary,
        ..ClassificationOptions::default()
    };
    for chunk in [1, 2, 6] {
        let result = evaluate(options.clone(), BINARY, chunk);
        let metrics = &result.overall.metrics;
        assert_eq!(result.pos_label.as_deref(), Some("1"));
        assert_eq!(result.classes, ["0", "1"]);
        close(metrics["accuracy_score"], 5.0 / 6.0);
        close(metrics["precision_score"], 1.0);
        close(metrics["recall_score"], 0.75);
        close(metrics["f1_score"], 6.0 / 7.0);
        // balanced_accuracy_score = (1 + 0.75) / 2
        close(metrics["balanced_accuracy_score"], 0.875);
        close(metrics["roc_auc"], 1.0);
        close(metrics["precision_recall_auc"], 1.0);
        // log_loss = 0.3439175337302471, brier_score_loss = 0.6 / 6
        close(metrics["log_loss"], 0.3439175337302471);
        close(metrics["brier_score_loss"], 0.1);
        // every row in its own bin: (0.1 + 0.2 + 0.6 + 0.3 + 0.1 + 0.3) / 6
        close(metrics["expected_calibration_error"], 1.6 / 6.0);
        close(metrics["false_negatives"], 1.0);
        close(metrics["true_negatives"], 2.0);
        assert_eq!(
            result.overall.confusion_matrix,
            vec![vec![2, 0], vec![1, 3]]
        );
        assert!(result.warnings.is_empty(), "{:?}", result.warnings);
    }
}

#[test]
fn slices_have_their_own_metrics_and_gaps() {
    let options = ClassificationOptions {
        probabilities: Probabilities::Binary,
        slice_columns: vec!["region".into()],
        ..ClassificationOptions::default()
    };
    let result = evaluate(options, BINARY, 4);
    let column = &result.slices[0];
    assert_eq!(column.column, "region");
    let a = &column.slices[0];
    let b = &column.slices[1];
    assert_eq!((a.value.as_str(), a.group.rows), ("a", 3));
    assert_eq!((b.value.as_str(), b.group.rows), ("b", 3));
    close(a.group.metrics["accuracy_score"], 1.0);
    close(b.group.metrics["accuracy_score"], 2.0 / 3.0);
    // slice b: positives {0.4, 0.7}, negative {0.3}: AUC 1; recall 1/2
    close(b.group.metrics["roc_auc"], 1.0);
    close(b.group.metrics["recall_score"], 0.5);
    let gap = &column.gaps["accuracy_score"];
    close(Some(gap.gap), 1.0 / 3.0);
    assert_eq!((gap.min_slice.as_str(), gap.max_slice.as_str()), ("b", "a"));
    // the overall result is the same as without slices
    close(result.overall.metrics["log_loss"], 0.3439175337302471);
}

#[test]
fn multiclass_strings_with_probabilities() {
    let options = ClassificationOptions {
        probabilities: Probabilities::PerClass(vec!["cat".into(), "bird".into(), "dog".into()]),
        ..ClassificationOptions::default()
    };
    // Probability columns in file order cat, bird, dog (scikit-learn's order is bird, cat, dog).
    let rows: &[(&str, &str, &[f64], &str)] = &[
        ("cat", "cat", &[0.7, 0.2, 0.1], ""),
        ("dog", "dog", &[0.2, 0.1, 0.7], ""),
        ("bird", "dog", &[0.2, 0.5, 0.3], ""),
        ("dog", "dog", &[0.2, 0.2, 0.6], ""),
        ("cat", "bird", &[0.4, 0.5, 0.1], ""),
        ("bird", "bird", &[0.2, 0.6, 0.2], ""),
    ];
    let result = evaluate(options, rows, 3);
    let metrics = &result.overall.metrics;
    assert_eq!(result.classes, ["bird", "cat", "dog"]);
    assert_eq!(result.pos_label, None);
    // scikit-learn: log_loss 0.5574065079739244, brier_score_loss 0.29333333333333333,
    // roc_auc_score(multi_class="ovr") 0.9791666666666666 (weighted the same),
    // average_precision_score 0.9444444444444443, f1_score(average="weighted") 0.6555555555555556
    close(metrics["log_loss"], 0.5574065079739244);
    close(metrics["brier_score_loss"], 0.29333333333333333);
    close(metrics["roc_auc"], 0.9791666666666666);
    close(metrics["roc_auc_weighted"], 0.9791666666666666);
    close(metrics["precision_recall_auc"], 0.9444444444444443);
    close(metrics["f1_score"], 0.6555555555555556);
    close(metrics["balanced_accuracy_score"], 2.0 / 3.0);
    let classes: Vec<(&str, f64, f64)> = result
        .overall
        .per_class
        .iter()
        .map(|c| (c.class.as_str(), c.precision, c.recall))
        .collect();
    assert_eq!(
        classes,
        [
            ("bird", 0.5, 0.5),
            ("cat", 1.0, 0.5),
            ("dog", 2.0 / 3.0, 1.0)
        ]
    );
    // accuracy = micro precision = micro recall
    close(metrics["accuracy_score"], 4.0 / 6.0);
    close(metrics["precision_micro"], 4.0 / 6.0);
}

#[test]
fn zero_division_gives_zero_and_a_warning() {
    let rows: &[(&str, &str, &[f64], &str)] = &[("0", "0", &[], ""), ("1", "0", &[], "")];
    let result = evaluate(ClassificationOptions::default(), rows, 2);
    close(result.overall.metrics["precision_score"], 0.0);
    close(result.overall.metrics["recall_score"], 0.0);
    assert!(
        result
            .warnings
            .iter()
            .any(|w| w.contains("precision is ill-defined")),
        "{:?}",
        result.warnings
    );
}

#[test]
fn positive_label_default_and_choice() {
    let rows: &[(&str, &str, &[f64], &str)] = &[
        ("no", "yes", &[0.6], ""),
        ("yes", "yes", &[0.9], ""),
        ("no", "no", &[0.2], ""),
    ];
    let options = ClassificationOptions {
        probabilities: Probabilities::Binary,
        ..ClassificationOptions::default()
    };
    let result = evaluate(options.clone(), rows, 3);
    assert_eq!(result.pos_label.as_deref(), Some("yes"));
    close(result.overall.metrics["precision_score"], 0.5);
    let chosen = evaluate(
        ClassificationOptions {
            pos_label: Some("no".into()),
            ..options.clone()
        },
        rows,
        3,
    );
    assert_eq!(chosen.pos_label.as_deref(), Some("no"));
    close(chosen.overall.metrics["precision_score"], 1.0);
    // scores are then P(no): the "no" rows scored 0.6 and 0.2 against 0.9: AUC 0
    close(chosen.overall.metrics["roc_auc"], 0.0);
    let mut accumulator = ClassificationAccumulator::new(ClassificationOptions {
        pos_label: Some("maybe".into()),
        ..options
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let cell = accumulator.cell(&[]);
    accumulator
        .push(cell, "no", "yes", &[0.5])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(accumulator.finish().is_err());
}

#[test]
fn bad_rows_are_refused() {
    let mut binary = ClassificationAccumulator::new(ClassificationOptions {
        probabilities: Probabilities::Binary,
        ..ClassificationOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        binary.push(0, "a", "b", &[1.5]),
        Err(EvalError::ProbabilityOutOfRange { value: 1.5 })
    );
    assert!(binary.push(0, "a", "b", &[0.5]).is_ok());
    assert!(matches!(
        binary.push(0, "c", "a", &[0.5]),
        Err(EvalError::NotBinary { .. })
    ));
    let mut multiclass = ClassificationAccumulator::new(ClassificationOptions {
        probabilities: Probabilities::PerClass(vec!["x".into(), "y".into()]),
        ..ClassificationOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        multiclass.push(0, "z", "x", &[0.5, 0.5]),
        Err(EvalError::UnknownClass { .. })
    ));
    let mut many = ClassificationAccumulator::new(ClassificationOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    for n in 0..MAX_CLASSES {
        let label = n.to_string();
        assert!(many.push(0, &label, &label, &[]).is_ok());
    }
    assert!(matches!(
        many.push(0, "1.5", "1", &[]),
        Err(EvalError::Invalid(message)) if message.contains("--task regression")
    ));
}

#[test]
fn macro_averages_skip_classes_neither_true_nor_predicted() {
    // Class "c" has a probability column but no row: scikit-learn's macro average is over a and b.
    let options = ClassificationOptions {
        probabilities: Probabilities::PerClass(vec!["a".into(), "b".into(), "c".into()]),
        ..ClassificationOptions::default()
    };
    let rows: &[(&str, &str, &[f64], &str)] = &[
        ("a", "a", &[0.8, 0.1, 0.1], ""),
        ("a", "b", &[0.3, 0.6, 0.1], ""),
        ("b", "b", &[0.2, 0.7, 0.1], ""),
    ];
    let result = evaluate(options, rows, 3);
    // precision a = 1, b = 1/2; recall a = 1/2, b = 1
    close(result.overall.metrics["precision_macro"], 0.75);
    close(result.overall.metrics["recall_macro"], 0.75);
    assert_eq!(result.overall.per_class.len(), 3);
    assert!(
        !result.warnings.iter().any(|w| w.contains("ill-defined")),
        "{:?}",
        result.warnings
    );
}
