"""plantwatch dashboards: Grafana provisioning (generated JSON) and the built-in web page."""
