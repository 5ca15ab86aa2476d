# Cloud Run services for the two HTTP tiers. Who owns what (see docs/deploy.md):
#   Terraform owns the service: its ingress, public access, service-level scaling, labels and the
#   template of the FIRST revision only. Cloud Build (gcloud run deploy / update-traffic) owns every
#   later revision (the whole template: image, env, SPLIT, revision names) and the traffic.
#   lifecycle.ignore_changes = [template, traffic, ...] makes that split total: Terraform never sends
#   a template after creation, so it can neither revert a rollout nor re-send a revision name gcloud
#   already used (Cloud Run answers 409 to a changed template under an existing revision name).
#   A change to the revision template (probes, limits, env) goes through `gcloud run deploy` or a
#   release, never through Terraform.

locals {
  run_common_env = {
    MONGODB_DATABASE = var.mongodb_database
    PUBSUB_PROJECT   = var.project_id
    LOG_LEVEL        = var.log_level
    LOG_FORMAT       = "json"
  }
}

resource "google_cloud_run_v2_service" "ingest" {
  name                = "ingest"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  # Public without an allUsers binding, which the domain-restricted-sharing policy of new
  # organizations refuses: https://cloud.google.com/run/docs/authenticating/public#invoker_check
  invoker_iam_disabled = true

  # Service-level minimum: shared by the revisions that serve traffic, in proportion to their share.
  # A revision-level min_instance_count keeps that many instances warm for EVERY revision, tagged
  # 0 % ones included (cost, and Direct VPC egress addresses):
  # https://cloud.google.com/run/docs/configuring/min-instances
  scaling {
    min_instance_count = var.ingest_min_instances
  }

  template {
    service_account                  = google_service_account.ingest.email
    max_instance_request_concurrency = 250
    timeout                          = "60s"

    scaling {
      max_instance_count = var.ingest_max_instances
    }

    vpc_access {
      egress = "PRIVATE_RANGES_ONLY"
      network_interfaces {
        network    = google_compute_network.vpc.id
        subnetwork = google_compute_subnetwork.run.id
      }
    }

    containers {
      name  = "ingest"
      image = var.image
      args  = ["ingest"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle = true
      }

      dynamic "env" {
        for_each = local.run_common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name  = "SPLIT"
        value = var.ingest_split
      }

      env {
        name  = "GRPC_SERVER_ADDRESS"
        value = "${google_compute_address.grpc_ilb.address}:50051"
      }

      env {
        name = "REDIS_URL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.redis_url.secret_id
            version = "latest"
          }
        }
      }

      env {
        name = "ADMIN_TOKEN"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.admin_token.secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        http_get {
          path = "/readyz"
        }
        period_seconds    = 2
        failure_threshold = 30
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 15
      }
    }

    # Managed Service for Prometheus collector: scrapes this instance's /metrics (the default
    # RunMonitoring: port 8080, path /metrics) and writes the series to Cloud Monitoring, where
    # `vacunometro rollout --backend cloudrun` reads them back over PromQL.
    # https://cloud.google.com/run/docs/monitoring-managed-prometheus-sidecar
    containers {
      name       = "collector"
      image      = var.gmp_sidecar_image
      depends_on = ["ingest"]

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
      }
    }
  }

  # The first revision takes all traffic under the tag "blue"; Cloud Build then adds tagged revisions
  # (green, canary) with --no-traffic and moves percentages with update-traffic.
  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
    tag     = "blue"
  }

  lifecycle {
    ignore_changes = [
      template,
      traffic,
      client,
      client_version,
    ]
  }

  depends_on = [
    google_secret_manager_secret_iam_member.ingest_admin_token,
    google_secret_manager_secret_iam_member.ingest_redis_url,
    google_secret_manager_secret_version.redis_url,
  ]
}

resource "google_cloud_run_v2_service" "realtime" {
  name                = "realtime"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  # The dashboard is public (see ingest above for why not allUsers).
  invoker_iam_disabled = true

  # One instance stays warm for the WebSocket clients, shared by the serving revisions.
  scaling {
    min_instance_count = var.realtime_min_instances
  }

  template {
    service_account = google_service_account.realtime.email
    # WebSockets: long requests, many per instance, a client sticks to its instance.
    max_instance_request_concurrency = 1000
    timeout                          = "3600s"
    session_affinity                 = true

    scaling {
      max_instance_count = var.realtime_max_instances
    }

    vpc_access {
      egress = "PRIVATE_RANGES_ONLY"
      network_interfaces {
        network    = google_compute_network.vpc.id
        subnetwork = google_compute_subnetwork.run.id
      }
    }

    containers {
      name  = "realtime"
      image = var.image
      args  = ["realtime"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle = false
      }

      dynamic "env" {
        for_each = local.run_common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name = "REDIS_URL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.redis_url.secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        http_get {
          path = "/readyz"
        }
        period_seconds    = 2
        failure_threshold = 30
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 15
      }
    }

    # Managed Service for Prometheus collector: scrapes this instance's /metrics (the default
    # RunMonitoring: port 8080, path /metrics) and writes the series to Cloud Monitoring, where
    # `vacunometro rollout --backend cloudrun` reads them back over PromQL.
    # https://cloud.google.com/run/docs/monitoring-managed-prometheus-sidecar
    containers {
      name       = "collector"
      image      = var.gmp_sidecar_image
      depends_on = ["realtime"]

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
    tag     = "blue"
  }

  lifecycle {
    ignore_changes = [
      template,
      traffic,
      client,
      client_version,
    ]
  }

  depends_on = [
    google_secret_manager_secret_iam_member.realtime_redis_url,
    google_secret_manager_secret_version.redis_url,
  ]
}

# The dashboard (served by realtime, with /ws and /api/stats) on a custom domain. Verify the domain
# first (gcloud domains verify DOMAIN), then add the DNS records this resource reports.
resource "google_cloud_run_domain_mapping" "dashboard" {
  count = var.domain == "" ? 0 : 1

  location = var.region
  name     = var.domain

  metadata {
    namespace = var.project_id
  }

  spec {
    route_name = google_cloud_run_v2_service.realtime.name
  }
}
