# dist: filled in by its owner.
