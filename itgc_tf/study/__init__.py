"""When does VEM beat its base recipe? The grid (`grid`), one cell as a normal run
folder (`cells`), paired statistics (`stats`) and the tables and plots (`report`)
behind ``scripts/study.py`` and docs/STUDY.md."""
