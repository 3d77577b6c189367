"""thresher.fingerprints: normalisation, hashing, MinHash, LSH and the on-disk fingerprint index."""
