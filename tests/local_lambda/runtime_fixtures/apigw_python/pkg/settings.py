NAME = "pkg.settings"
