# OpenBao of docker-compose.yaml's profile "openbao" (docs/docker-compose.md, "The keyring in OpenBao").
# A single node (integrated raft storage, the only one OpenBao 2.x keeps) with its data on the volume
# openbao-data; sealed with one Shamir key that openbao-init keeps
# in its own volume and uses to unseal the server at every `docker compose --profile openbao up`.
storage "raft" {
  path    = "/openbao/file"
  node_id = "openbao"
}

# Plain HTTP on the compose network only: the port is not published on the host, and only openbao-init and
# airflow-scheduler talk to it. A deployment beyond one machine uses TLS (tls_cert_file / tls_key_file).
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr     = "http://openbao:8200"
cluster_addr = "http://openbao:8201"
ui       = false
