"""The analysed corpus: song ids, the Parquet feature store keyed by content hash and analysis version, and
analysing many songs at once as Ray tasks (the one place this layer meets Ray)."""
