"""One package per claim of the report: derivation, flows, agreement, robustness, rademacher,
lipschitz, depth, graph. Each holds its study, its sweep job, its figures and its report
section; studies import nets, stats and store, never the report or the CLI."""
