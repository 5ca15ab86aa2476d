# The "pubsub" route: ingest publishes one message per group-committed batch; the pubsub worker
# stores it and acks. Names match internal/route/pubsubroute (DefaultTopic, DefaultSubscription).
resource "google_pubsub_topic" "records" {
  name                       = "vacunometro-records"
  message_retention_duration = "86400s"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  name                       = "vacunometro-records-dead-letter"
  message_retention_duration = "604800s"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "sink" {
  name                       = "vacunometro-records-sink"
  topic                      = google_pubsub_topic.records.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "1s"
    maximum_backoff = "60s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 10
  }
}

# Keeps dead letters readable (gcloud pubsub subscriptions pull) until someone looks at them.
resource "google_pubsub_subscription" "dead_letter" {
  name                       = "vacunometro-records-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

# Pub/Sub's own service agent must publish to the dead-letter topic and ack on the source subscription.
locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  subscription = google_pubsub_subscription.sink.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
