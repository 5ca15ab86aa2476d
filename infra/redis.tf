# Memorystore for Valkey (Redis OSS 7.2 compatible), one shard with a replica, cluster mode off, so the
# same go-redis client and streams work as against redis-server. The "redis" route answers 202 once
# XADD returned, so an acknowledged write must survive a node failure: AOF with fsync on every write,
# the managed equivalent of `appendonly yes` + `appendfsync always` in cluster/overlays/dev/redis.yaml.
# (Classic Memorystore for Redis, google_redis_instance, offers only RDB snapshots; it does not fit.)
resource "google_memorystore_instance" "redis" {
  instance_id                 = "vacunometro"
  location                    = var.region
  mode                        = "CLUSTER_DISABLED"
  shard_count                 = 1
  replica_count               = 1
  node_type                   = var.redis_node_type
  engine_version              = "VALKEY_8_0"
  authorization_mode          = "AUTH_DISABLED"
  transit_encryption_mode     = "TRANSIT_ENCRYPTION_DISABLED"
  deletion_protection_enabled = var.deletion_protection

  desired_auto_created_endpoints {
    network    = google_compute_network.vpc.id
    project_id = var.project_id
  }

  persistence_config {
    mode = "AOF"
    aof_config {
      append_fsync = "ALWAYS"
    }
  }

  engine_configs = {
    maxmemory-policy = "noeviction"
  }

  zone_distribution_config {
    mode = "MULTI_ZONE"
  }

  depends_on = [google_network_connectivity_service_connection_policy.memorystore]
}

locals {
  redis_primary = one([
    for c in google_memorystore_instance.redis.endpoints[0].connections : c.psc_auto_connection[0]
    if c.psc_auto_connection[0].connection_type == "CONNECTION_TYPE_PRIMARY"
  ])
  redis_url = "redis://${local.redis_primary.ip_address}:${local.redis_primary.port}/0"
}
