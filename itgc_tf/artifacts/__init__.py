"""What both evaluation and export use: all-or-nothing file writes (`atomic`) and
callables that run exported models (`runners`). Imports nothing else of itgc_tf."""
