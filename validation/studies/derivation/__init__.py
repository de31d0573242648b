"""The symbolic derivation and the technique catalogue (theory.report) as a study of the
report."""
