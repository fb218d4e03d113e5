"""Model definitions, training, export and the signed model package format."""
