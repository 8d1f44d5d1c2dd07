//! [`AttributeBuffer`]: a metric point's attributes without a heap allocation.

use opentelemetry::KeyValue;

/// A fixed-capacity list of attributes on the stack, for recording a measurement with
/// attributes (the path a bound instrument cannot take) without allocating a `Vec` per point.
///
/// `N` is the most attributes the caller's points carry; a push beyond it is dropped, so size
/// it to the conventions' list for the instrument.
///
/// ```
/// use opentelemetry::KeyValue;
/// use tracewire_core::metrics::AttributeBuffer;
///
/// let mut attributes = AttributeBuffer::<2>::new();
/// attributes.push(KeyValue::new("http.request.method", "GET"));
/// attributes.push(KeyValue::new("url.scheme", "https"));
/// attributes.push(KeyValue::new("dropped", true));
/// assert_eq!(attributes.as_slice().len(), 2);
/// assert_eq!(attributes.as_slice()[1].value.as_str(), "https");
/// ```
#[derive(Debug)]
pub struct AttributeBuffer<const N: usize> {
    items: [KeyValue; N],
    len: usize,
}

impl<const N: usize> AttributeBuffer<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        Self {
            items: std::array::from_fn(|_| KeyValue::new("", false)),
            len: 0,
        }
    }

    /// Appends `attribute`, or drops it when the buffer is full.
    pub fn push(&mut self, attribute: KeyValue) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = attribute;
            self.len += 1;
        }
    }

    /// The attributes pushed so far, in order.
    pub fn as_slice(&self) -> &[KeyValue] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

impl<const N: usize> Default for AttributeBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}
