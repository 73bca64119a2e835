"""The only place that runs git or imports pygit2: processes, plumbing, objects, repository
discovery, trailers."""
