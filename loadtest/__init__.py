"""`make loadtest`: load and scale measurements on the local PostgreSQL; results go to README "Load and scale"."""
