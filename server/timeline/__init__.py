"""After the PO: golden-sample approval, schedule and progress with a delay forecast,
freight readiness, issue resolution, and one timeline per purchase order."""
