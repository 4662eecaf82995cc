"""What evaluation, export and training share: all-or-nothing file writes (`atomic`),
whether the process that left a file behind still runs (`processes`) and callables that
run exported models (`runners`). Imports nothing else of itgc_tf."""
