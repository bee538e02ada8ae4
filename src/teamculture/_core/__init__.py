"""The private core of teamculture: validation, groups, missing data, warnings, errors.

It imports nothing from the rest of the package (a test says so), so every
area (scoring, reliability, aggregation, multilevel, outcomes) builds on the
same rules: labelled arguments aligned on their index, one labels-to-codes
factoriser, one missing-data policy with counts, warnings attributed to the
caller's line.
"""
