# Secret Manager holds every secret. Terraform creates the containers; the values of MONGODB_URI and
# ADMIN_TOKEN are added outside Terraform (docs/deploy.md) so they never enter the state or the repo.
resource "google_secret_manager_secret" "mongodb_uri" {
  secret_id = "vacunometro-mongodb-uri"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# The key of the producer the Cloud Build smoke test and Locust post as: made with
# `vacunometro producers add smoke` and added as a version outside Terraform (docs/deploy.md), so the
# key never enters the state. Only its SHA-256 is stored, in MongoDB's producers collection.
resource "google_secret_manager_secret" "producer_key" {
  secret_id = "vacunometro-producer-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret" "admin_token" {
  secret_id = "vacunometro-admin-token"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# REDIS_URL is not a credential (AUTH is off; the endpoint is private) but it is kept with the others
# so that every tier reads its connection strings the same way. Terraform knows it, so it writes it.
resource "google_secret_manager_secret" "redis_url" {
  secret_id = "vacunometro-redis-url"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "redis_url" {
  secret      = google_secret_manager_secret.redis_url.id
  secret_data = local.redis_url
}
