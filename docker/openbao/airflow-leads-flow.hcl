# What Airflow's token may do in OpenBao (docs/running.md, "Production: a secrets backend"): read the
# leads-flow connections and variables of the KV v2 mount "secret" (and the SMTP connection of the e-mail
# alerts), nothing else: no list, no write, no other path.
path "secret/data/connections/leads_*" {
  capabilities = ["read"]
}

path "secret/data/connections/smtp_default" {
  capabilities = ["read"]
}

path "secret/data/variables/leads_*" {
  capabilities = ["read"]
}
