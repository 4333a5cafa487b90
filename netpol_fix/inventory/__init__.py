"""Where objects come from (files, stdin, a live cluster), into one typed Inventory."""
