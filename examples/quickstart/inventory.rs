//! A simulated inventory service the API depends on: usually quick, sometimes slow, and down
//! for a few seconds now and then, so readiness flaps and some orders fail.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use telescope::health::{check_fn, CheckConfig, CheckResult, Health, RegisterError};
use tracing::instrument;

/// Why the inventory could not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InventoryError {
    /// It is down (connection refused).
    #[error("inventory service unavailable")]
    Unavailable,
    /// Not enough stock.
    #[error("only {available} left of product {product}")]
    OutOfStock { product: u64, available: u64 },
}

/// The simulated dependency: stock per product, and whether it is up.
#[derive(Debug, Clone)]
pub(crate) struct Inventory {
    up: Arc<AtomicBool>,
    stock: Arc<[AtomicU64]>,
}

impl Inventory {
    /// `products` products with 1,000 of each in stock.
    pub(crate) fn new(products: usize) -> Self {
        Self {
            up: Arc::new(AtomicBool::new(true)),
            stock: (0..products).map(|_| AtomicU64::new(1_000)).collect(),
        }
    }

    /// Goes down for 2 to 4 s every 15 to 30 s, until the runtime stops.
    pub(crate) fn start_flapping(&self) {
        let up = self.up.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(15_000..30_000))).await;
                up.store(false, Ordering::Relaxed);
                tracing::warn!(dependency = "inventory", "inventory went down");
                tokio::time::sleep(Duration::from_millis(fastrand::u64(2_000..4_000))).await;
                up.store(true, Ordering::Relaxed);
                tracing::info!(dependency = "inventory", "inventory is back");
            }
        });
    }

    /// Marks it down or up (the end-to-end test does; the demo flaps instead).
    #[allow(dead_code)]
    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// Registers the readiness check that follows it.
    pub(crate) fn register_check(&self, health: &Health) -> Result<(), RegisterError> {
        let up = self.up.clone();
        let check = check_fn("inventory", move || {
            let up = up.load(Ordering::Relaxed);
            async move {
                if up {
                    CheckResult::pass()
                } else {
                    CheckResult::fail("connection refused")
                }
            }
        });
        health.register(
            check,
            CheckConfig::readiness().interval(Duration::from_secs(1)),
        )
    }

    /// Takes `quantity` of `product` out of stock; now and then it is slow.
    #[instrument(skip(self), err)]
    pub(crate) async fn reserve(&self, product: u64, quantity: u64) -> Result<(), InventoryError> {
        let slow = fastrand::u8(..100) < 5;
        let latency = if slow {
            Duration::from_millis(fastrand::u64(150..400))
        } else {
            Duration::from_millis(fastrand::u64(1..6))
        };
        tokio::time::sleep(latency).await;
        if !self.up.load(Ordering::Relaxed) {
            return Err(InventoryError::Unavailable);
        }
        let Some(stock) = usize::try_from(product)
            .ok()
            .and_then(|p| self.stock.get(p))
        else {
            return Err(InventoryError::OutOfStock {
                product,
                available: 0,
            });
        };
        let taken = stock.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(quantity)
        });
        match taken {
            Ok(left) => {
                metrics::gauge!("inventory_stock_units", "product" => product.to_string())
                    .set((left - quantity) as f64);
                Ok(())
            }
            Err(available) => {
                // Restock, so the demo keeps selling.
                stock.store(1_000, Ordering::Relaxed);
                Err(InventoryError::OutOfStock { product, available })
            }
        }
    }
}
