"""Experiments: variants of the pipeline run in their own work tree under
``.tether/exps/``, each recorded as a commit on a ref outside branches
(``tether.exprefs``), and compared, applied or made into a branch later."""
