"""Figure functions (seaborn), one module per figure family; each reads tidy tables only."""
