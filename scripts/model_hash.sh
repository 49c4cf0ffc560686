#!/usr/bin/env bash
# The model's cache key: everything training reads (data, config, domain, and the
# code that builds the spaCy pipeline it tokenises with).
cd "$(dirname "$0")/.."
{ find data -type f -name '*.yml' | LC_ALL=C sort; echo config.yml; echo domain.yml; echo b12core/spacy_model.py; echo constraints.txt; } \
  | while read -r f; do printf '%s\n' "$f"; cat "$f"; done | sha256sum | cut -c1-16
