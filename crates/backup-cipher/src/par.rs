//! Parallel work through rayon (feature `parallel`, on by default), or — without it —
//! the same calls on the calling thread, so the crate builds without rayon.

#[cfg(feature = "parallel")]
pub(crate) use rayon::{Scope, ThreadPool, ThreadPoolBuilder, in_place_scope, prelude::*};

#[cfg(not(feature = "parallel"))]
pub(crate) use sequential::*;

#[cfg(not(feature = "parallel"))]
mod sequential {
    use std::marker::PhantomData;

    /// Runs every spawned job at once, on the calling thread.
    pub(crate) struct Scope<'s>(PhantomData<&'s ()>);

    impl<'s> Scope<'s> {
        pub(crate) fn spawn<F: FnOnce(&Scope<'s>) + Send + 's>(&self, job: F) {
            job(self)
        }
    }

    pub(crate) fn in_place_scope<'s, R>(f: impl FnOnce(&Scope<'s>) -> R) -> R {
        f(&Scope(PhantomData))
    }

    /// Never built: without threads there is no pool.
    pub(crate) enum ThreadPool {}

    impl ThreadPool {
        pub(crate) fn install<R>(&self, _: impl FnOnce() -> R) -> R {
            match *self {}
        }
        pub(crate) fn in_place_scope<'s, R>(&self, _: impl FnOnce(&Scope<'s>) -> R) -> R {
            match *self {}
        }
    }

    /// Slices as rayon offers them, iterated in order.
    pub(crate) trait ParSlice<T> {
        fn par_chunks(&self, size: usize) -> std::slice::Chunks<'_, T>;
        fn par_iter(&self) -> std::slice::Iter<'_, T>;
    }

    impl<T> ParSlice<T> for [T] {
        fn par_chunks(&self, size: usize) -> std::slice::Chunks<'_, T> {
            self.chunks(size)
        }
        fn par_iter(&self) -> std::slice::Iter<'_, T> {
            self.iter()
        }
    }

    /// rayon's `flat_map_iter` on an ordinary iterator.
    pub(crate) trait FlatMapIter: Iterator + Sized {
        fn flat_map_iter<U: IntoIterator, F: FnMut(Self::Item) -> U>(
            self,
            f: F,
        ) -> std::iter::FlatMap<Self, U, F> {
            self.flat_map(f)
        }
    }

    impl<I: Iterator> FlatMapIter for I {}
}
