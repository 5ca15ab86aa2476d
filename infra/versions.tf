terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.0.0, < 8.0.0"
    }
  }

  # State in a GCS bucket created once by hand (docs/deploy.md, step 2):
  #   terraform init -backend-config="bucket=${PROJECT_ID}-tfstate"
  backend "gcs" {
    prefix = "vacunometro"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app        = "vacunometro"
    managed-by = "terraform"
  }
}

data "google_project" "this" {
  project_id = var.project_id
}
