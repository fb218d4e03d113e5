"""The dashboard's static files (pages, scripts, styles, logo, alarm tone); a package so they install with it."""
