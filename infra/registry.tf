resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = "vacunometro"
  description   = "vacunometro container images (one image; the subcommand picks the tier)"
  format        = "DOCKER"

  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  cleanup_policies {
    id     = "delete-old-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.apis]
}

# Cloud Build's default source bucket, created here so that the deployer account can be granted
# read access to it alone (gcloud builds submit uploads the source there).
resource "google_storage_bucket" "cloudbuild_source" {
  name                        = "${var.project_id}_cloudbuild"
  location                    = "US"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  lifecycle_rule {
    action {
      type = "Delete"
    }
    condition {
      age = 30
    }
  }
}
