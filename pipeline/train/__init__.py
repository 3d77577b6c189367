"""Training and evaluation of the classifiers thresher ships, and of its date extraction.

- `fasttext`: what every fastText trainer shares (config loading, the labelled data set and its
  split by group, split files, training in a fresh process with a fixed seed, figures)
- `mgt`: the machine-generated-text classifier (`thresher train-mgt`, `eval-mgt`)
- `domains`: the domain classifier (`thresher train-domains`, `eval-domains`)
- `dates`: publication-date extraction against pages with known dates (`thresher eval-dates`)
"""
