//! How Rust values cross the boundary: one typed conversion per handle kind
//! (rustls-ffi's `Castable`), and out-parameters written through one path.
//!
//! Each opaque C type names the Rust value behind its pointer and how the
//! caller owns it: `impl Castable for hubauth_x { type Ownership = …; type
//! RustType = …; }`. Nothing else in `ffi/` casts a handle pointer.
//!
//! - [`OwnedBox`]: the pointer is a `Box<RustType>`; one owner frees it once.
//! - [`OwnedArc`]: the pointer is an `Arc<RustType>` (from `Arc::into_raw`);
//!   each reference handed out is one strong count, freed once.

use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};

/// An opaque C type and the Rust value its pointers stand for.
pub(crate) trait Castable {
    /// [`OwnedBox`] or [`OwnedArc`].
    type Ownership: Ownership;
    /// The value behind the pointer.
    type RustType;
}

/// How a handle's value is allocated and freed.
pub(crate) trait Ownership {
    /// Moves `value` to the heap; the pointer is the caller's until `free`.
    fn into_raw<T>(value: T) -> *mut T;
    /// Frees what `into_raw` made.
    ///
    /// # Safety
    /// `ptr` came from `into_raw` of the same ownership and is freed once.
    unsafe fn free<T>(ptr: *mut T);
}

/// A handle with one owner: `Box<T>`.
pub(crate) struct OwnedBox;

impl Ownership for OwnedBox {
    fn into_raw<T>(value: T) -> *mut T {
        Box::into_raw(Box::new(value))
    }
    unsafe fn free<T>(ptr: *mut T) {
        // SAFETY: by the contract of `free`.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A reference-counted handle: each pointer handed out is one `Arc<T>`.
pub(crate) struct OwnedArc;

impl Ownership for OwnedArc {
    fn into_raw<T>(value: T) -> *mut T {
        Arc::into_raw(Arc::new(value)).cast_mut()
    }
    unsafe fn free<T>(ptr: *mut T) {
        // SAFETY: by the contract of `free`: one strong count from `into_raw`.
        drop(unsafe { Arc::from_raw(ptr.cast_const()) });
    }
}

/// Hands `value` to the caller as a new handle.
pub(crate) fn into_handle<C: Castable>(value: C::RustType) -> *mut C {
    C::Ownership::into_raw(value).cast()
}

/// Frees a handle the caller owns; NULL is allowed.
pub(crate) fn free_handle<C: Castable>(ptr: *mut C) {
    if !ptr.is_null() {
        // SAFETY: a pointer from `into_handle::<C>`, freed once by contract.
        unsafe { C::Ownership::free(ptr.cast::<C::RustType>()) }
    }
}

/// The value behind a handle, or None for NULL.
pub(crate) fn try_ref<'a, C: Castable>(ptr: *const C) -> Option<&'a C::RustType> {
    // SAFETY: the caller passes NULL or a live pointer from `into_handle::<C>`;
    // both ownerships point at the value itself.
    unsafe { ptr.cast::<C::RustType>().as_ref() }
}

/// The value behind a required handle: NULL gives HUBAUTH_ERR_NULL_ARGUMENT.
pub(crate) fn required<'a, C: Castable>(ptr: *const C, name: &str) -> Result<&'a C::RustType> {
    try_ref(ptr).ok_or_else(|| null_argument(name))
}

pub(crate) fn null_argument(name: &str) -> Error {
    Error::new(ErrorKind::NullArgument, format!("{name} must not be NULL"))
}

/// A required out-parameter, checked non-NULL before any work is done and
/// written at most once ([`Out::write`] consumes it). Out-parameters are
/// written only on success; `hubauth_token_copy`'s `*len` on
/// HUBAUTH_ERR_BUFFER_TOO_SMALL is the one documented exception.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    pub(crate) fn new(ptr: *mut T, name: &str) -> Result<Self> {
        NonNull::new(ptr)
            .map(Out)
            .ok_or_else(|| null_argument(name))
    }

    pub(crate) fn write(self, value: T) {
        // SAFETY: non-NULL, and the caller promises writable storage for a T
        // (the header's contract). The old contents are not read or dropped.
        unsafe { self.0.as_ptr().write(value) }
    }
}

impl<C: Castable> Out<*mut C> {
    /// Hands `value` to the caller as a new handle in `*out`.
    pub(crate) fn give(self, value: C::RustType) {
        self.write(into_handle::<C>(value));
    }
}
