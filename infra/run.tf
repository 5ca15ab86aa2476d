# Cloud Run services for the two HTTP tiers. Who owns what (see docs/deploy.md):
#   Terraform creates each service with its identity, network, scaling, secrets and first revision.
#   Cloud Build (gcloud run deploy / update-traffic) then owns the image, the revisions, their SPLIT
#   and other env, and the traffic percentages and tags. lifecycle.ignore_changes below stops
#   `terraform apply` from reverting a rollout or re-pinning traffic (the known Terraform/gcloud fight).

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

  template {
    service_account                  = google_service_account.ingest.email
    max_instance_request_concurrency = 250
    timeout                          = "60s"

    scaling {
      min_instance_count = 0
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
      traffic,
      template[0].revision,
      template[0].labels,
      template[0].annotations,
      template[0].containers[0].image,
      template[0].containers[0].env,
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

  template {
    service_account = google_service_account.realtime.email
    # WebSockets: long requests, many per instance, a client sticks to its instance.
    max_instance_request_concurrency = 1000
    timeout                          = "3600s"
    session_affinity                 = true

    scaling {
      min_instance_count = 1
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
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
    tag     = "blue"
  }

  lifecycle {
    ignore_changes = [
      traffic,
      template[0].revision,
      template[0].labels,
      template[0].annotations,
      template[0].containers[0].image,
      template[0].containers[0].env,
      client,
      client_version,
    ]
  }

  depends_on = [
    google_secret_manager_secret_iam_member.realtime_redis_url,
    google_secret_manager_secret_version.redis_url,
  ]
}

# Both tiers are public: Locust and any client post records to ingest; the dashboard is public.
resource "google_cloud_run_v2_service_iam_member" "ingest_public" {
  name     = google_cloud_run_v2_service.ingest.name
  location = google_cloud_run_v2_service.ingest.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "realtime_public" {
  name     = google_cloud_run_v2_service.realtime.name
  location = google_cloud_run_v2_service.realtime.location
  role     = "roles/run.invoker"
  member   = "allUsers"
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
