//! The demo's HTTP API: a small shop with products, orders and a login, instrumented the way
//! an application would be: `#[instrument]`, log events, metric macros, audit events, and
//! telescope's HTTP middleware around the router.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tracing::{info, instrument, warn};

use crate::inventory::{Inventory, InventoryError};

/// The products on sale: (name, price in cents).
const PRODUCTS: [(&str, u64); 5] = [
    ("book", 1299),
    ("lamp", 3450),
    ("mug", 899),
    ("poster", 1500),
    ("headphones", 7999),
];

/// What the handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) inventory: Inventory,
}

/// The API, with telescope's middleware: a server span per request, request metrics, request
/// ids.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/products", get(list_products))
        .route("/products/{id}", get(get_product))
        .route("/orders", post(place_order))
        .route("/login", post(login))
        .with_state(state)
        .layer(telescope::http::TelemetryLayer::new())
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn list_products() -> Json<Value> {
    let products: Vec<Value> = PRODUCTS
        .iter()
        .enumerate()
        .map(|(id, (name, price))| json!({ "id": id, "name": name, "price_cents": price }))
        .collect();
    Json(json!({ "products": products }))
}

#[instrument]
async fn get_product(Path(id): Path<u64>) -> Response {
    match usize::try_from(id).ok().and_then(|i| PRODUCTS.get(i)) {
        Some((name, price)) => {
            Json(json!({ "id": id, "name": name, "price_cents": price })).into_response()
        }
        None => {
            info!(product_id = id, "no such product");
            error(StatusCode::NOT_FOUND, "no such product")
        }
    }
}

/// Why the payment provider refused.
#[derive(Debug, thiserror::Error)]
#[error("card declined by the payment provider")]
struct Declined;

/// Charges the card; the token is redacted from the logs by its field name.
#[instrument(skip(card_token), err)]
async fn charge(amount_cents: u64, card_token: &str) -> Result<(), Declined> {
    info!(card_token, "charging card");
    tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(1..5))).await;
    if fastrand::u8(..100) < 5 {
        return Err(Declined);
    }
    Ok(())
}

fn field_u64(body: &Value, name: &str) -> Option<u64> {
    body.get(name).and_then(Value::as_u64)
}

#[instrument(skip_all, fields(product_id, quantity))]
async fn place_order(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let (Some(product), Some(quantity)) =
        (field_u64(&body, "product_id"), field_u64(&body, "quantity"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "product_id and quantity are required",
        );
    };
    let span = tracing::Span::current();
    span.record("product_id", product);
    span.record("quantity", quantity);
    let Some((name, price)) = usize::try_from(product).ok().and_then(|i| PRODUCTS.get(i)) else {
        return error(StatusCode::NOT_FOUND, "no such product");
    };
    if quantity == 0 || quantity > 10 {
        return error(StatusCode::BAD_REQUEST, "quantity must be 1 to 10");
    }
    match state.inventory.reserve(product, quantity).await {
        Ok(()) => {}
        Err(InventoryError::Unavailable) => {
            metrics::counter!("orders_total", "outcome" => "unavailable").increment(1);
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "inventory unavailable, try again",
            );
        }
        Err(out_of_stock @ InventoryError::OutOfStock { .. }) => {
            metrics::counter!("orders_total", "outcome" => "out_of_stock").increment(1);
            return error(StatusCode::CONFLICT, out_of_stock.to_string());
        }
    }
    let amount = price * quantity;
    let card = body
        .get("card_token")
        .and_then(Value::as_str)
        .unwrap_or("tok_unknown");
    if charge(amount, card).await.is_err() {
        metrics::counter!("orders_total", "outcome" => "declined").increment(1);
        warn!(amount_cents = amount, "payment declined");
        return error(StatusCode::PAYMENT_REQUIRED, "card declined");
    }
    metrics::counter!("orders_total", "outcome" => "placed").increment(1);
    metrics::histogram!("order_value_dollars").record(amount as f64 / 100.0);
    info!(product = *name, amount_cents = amount, "order placed");
    (
        StatusCode::CREATED,
        Json(json!({ "product": name, "quantity": quantity, "amount_cents": amount })),
    )
        .into_response()
}

/// Checks a password; every attempt is an audit record (target `audit`), success or not.
#[instrument(skip_all, fields(user))]
async fn login(Json(body): Json<Value>) -> Response {
    let user = body
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let password = body.get("password").and_then(Value::as_str).unwrap_or("");
    tracing::Span::current().record("user", user.as_str());
    let ok = !user.is_empty() && password == "correct horse";
    let outcome = if ok { "success" } else { "failure" };
    tracing::info!(target: "audit", r#type = "authentication", action = "login", outcome,
        actor = user.as_str(), resource = "session", "login attempt");
    metrics::counter!("logins_total", "outcome" => outcome).increment(1);
    if ok {
        Json(json!({ "session": format!("s-{:016x}", fastrand::u64(..)) })).into_response()
    } else {
        error(StatusCode::UNAUTHORIZED, "wrong user or password")
    }
}
