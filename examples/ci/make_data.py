"""Writes a small churn-like table (seeded) for the CI recipe: python make_data.py data.csv [--rows N]."""

import argparse

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.rows
    tenure = rng.integers(1, 72, n)
    monthly = rng.normal(70, 20, n).round(2)
    tickets = rng.poisson(1.5, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    logit = -1.0 - 0.04 * tenure + 0.02 * (monthly - 70) + 0.5 * tickets
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    pd.DataFrame(
        {"customer_id": np.arange(1, n + 1), "tenure_months": tenure, "monthly_charges": monthly,
         "support_tickets": tickets, "region": region, "churned": churned}
    ).to_csv(args.path, index=False)


if __name__ == "__main__":
    main()
