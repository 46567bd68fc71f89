"""The grader's version, recorded with every grade: a change that can change a grade changes it.

1.1.0: public checks on inputs drawn for each submission, fixed ones on twins — the same --seed no
longer gives 1.0.0's inputs.  (A module of its own, so that the runner and the gradebook need not
import the package, whose ``checker`` imports them back.)
"""
GRADER_VERSION = "1.1.0"
