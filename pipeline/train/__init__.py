"""Training and evaluation of the classifiers thresher ships, and of its date extraction.

- `fasttext`: what every fastText trainer shares (config loading, the labelled data set and its
  split by group, split files, training in a fresh process with a fixed seed, figures)
- `mgt`: the machine-generated-text classifier (`thresher train-mgt`, `eval-mgt`)
- `domains`: the domain classifier (`thresher train-domains`, `eval-domains`); its data
  (`domain_sources`), word vectors learnt without labels (`domain_vectors`), figures
  (`domains_eval`) and leave-one-source-out table (`domains_loso`)
- `dates`: publication-date extraction against pages with known dates (`thresher eval-dates`)
"""
