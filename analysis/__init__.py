"""Results store -> tidy DataFrame -> tables, rliable aggregates, plots, leaderboard, paper figures."""
