// SPDX-License-Identifier: GPL-2.0

//! A test heap of the Rust dma-buf and dma-heap abstractions: system memory behind
//! `/dev/dma_heap/rust_test_system`.
//!
//! It exists so that the stock kselftest, the `rust_test_heap` selftest and real importers
//! (vgem) exercise `kernel::dma_heap` and `kernel::dma_buf` through the real uAPI: export,
//! attach, vmap, mmap and release; its KUnit suite covers setting and taking away a backend. It
//! is a CPU-only heap: it keeps the default `map_dma_buf`, which refuses to map buffers for DMA.
//!
//! Lock order: `mmap_lock` (in `mmap`) or the buffer's `dma_resv` (in `vmap`), then
//! `TestBuffer::mem`.

use kernel::{
    dma_buf::{
        DmaBuf,
        Exported,
        Exporter,
        FdFlags,
        Locked,
        NoSgTable,
        VmapAddr, //
    },
    dma_heap::{
        Backend,
        Heap,
        HeapFlags, //
    },
    mm::virt::VmaNew,
    new_mutex,
    page::{
        AsPageIter,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    }, //
};

module! {
    type: TestHeapModule,
    name: "rust_dma_heap_test",
    authors: ["devmem-heap"],
    description: "Test heap of the Rust dma-buf and dma-heap abstractions",
    license: "GPL",
    imports_ns: ["DMA_BUF", "DMA_BUF_HEAP"],
}

const HEAP_NAME: &CStr = c"rust_test_system";

/// One buffer: zero-filled vmalloc memory.
#[pin_data]
struct TestBuffer {
    /// The lock serialises page walks, which need `&mut`; the memory itself never moves.
    #[pin]
    mem: Mutex<VVec<u8>>,
}

#[vtable]
impl Exporter for TestBuffer {
    type SgTable<'a> = NoSgTable;

    fn mmap(buf: &Exported<Self>, vma: &VmaNew) -> Result {
        // The core has checked that the range fits in the buffer.
        let first = vma.pgoff();
        let count = (vma.end() - vma.start()) / PAGE_SIZE;
        vma.set_dontexpand();
        let mixed = vma.set_mixedmap();
        let mut mem = buf.data().get_ref().mem.lock();
        for (i, page) in mem.page_iter().skip(first).take(count).enumerate() {
            mixed.vm_insert_page(vma.start() + i * PAGE_SIZE, &page)?;
        }
        Ok(())
    }

    fn vmap(buf: &Locked<'_, Self>) -> Result<VmapAddr> {
        let vaddr = buf.data().mem.lock().as_ptr().cast_mut().cast();
        // SAFETY: `mem` maps the whole buffer and stays, unmoved, until the buffer is released,
        // which cannot happen before the importer's `vunmap`.
        Ok(unsafe { VmapAddr::from_vaddr(vaddr) })
    }

    fn vunmap(_buf: &Locked<'_, Self>, _map: VmapAddr) {}
}

/// Allocates [`TestBuffer`]s.
struct SystemBackend;

impl Backend for SystemBackend {
    fn allocate(
        &self,
        len: usize,
        fd_flags: FdFlags,
        _heap_flags: HeapFlags,
    ) -> Result<ARef<DmaBuf>> {
        // Every buffer handed out is zero-filled.
        let mem = VVec::from_elem(0u8, len, GFP_KERNEL)?;
        let buf = Exported::new(
            try_pin_init!(TestBuffer {
                mem <- new_mutex!(mem),
            }),
            len,
            fd_flags,
            HEAP_NAME,
        )?;
        Ok(Exported::into_dma_buf(buf))
    }
}

struct TestHeapModule;

impl kernel::Module for TestHeapModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let heap = Heap::<SystemBackend>::register(HEAP_NAME, module)?;
        heap.set_backend(Arc::new(SystemBackend, GFP_KERNEL)?)?;
        Ok(Self)
    }
}

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(rust_dma_heap_test)]
mod tests {
    use super::*;

    /// Set and take away a backend; allocation is refused while the heap has none.
    #[test]
    fn heap_backend_set_and_take() -> Result {
        // The node stays for good, with the backend set at the end, so that the kselftest
        // exercises it like any other heap.
        let module = kernel::module::this_module::<LocalModule>();
        let heap = Heap::<SystemBackend>::register(c"rust_test_kunit", module)?;
        let page = || heap.allocate(PAGE_SIZE, FdFlags::RDWR, HeapFlags::NONE);

        // A new heap has no backend.
        assert!(!heap.has_backend());
        assert_eq!(page().err(), Some(ENODEV));

        let backend = Arc::new(SystemBackend, GFP_KERNEL)?;
        heap.set_backend(backend.clone())?;
        assert_eq!(heap.set_backend(backend.clone()), Err(EBUSY));

        // Lengths are rounded up to pages; zero is refused.
        let buf = heap.allocate(PAGE_SIZE + 1, FdFlags::RDWR, HeapFlags::NONE)?;
        assert_eq!(buf.size(), 2 * PAGE_SIZE);
        assert_eq!(buf.exporter_name(), HEAP_NAME);
        assert_eq!(
            heap.allocate(0, FdFlags::RDWR, HeapFlags::NONE).err(),
            Some(EINVAL)
        );
        assert_eq!(HeapFlags::new(1).err(), Some(EINVAL));

        // Zero-filled, and written through the kernel mapping.
        {
            let map = buf.vmap()?;
            let mut bytes = [0xffu8; 64];
            map.read(2 * PAGE_SIZE - bytes.len(), &mut bytes)?;
            assert!(bytes.iter().all(|&b| b == 0));
            map.write(100, &[1, 2, 3])?;
            map.read(100, &mut bytes[..3])?;
            assert_eq!(&bytes[..3], &[1, 2, 3]);
        }

        // Detached: refused, while the buffer from before lives on.
        assert!(heap.take_backend().is_some());
        assert!(heap.take_backend().is_none());
        assert_eq!(page().err(), Some(ENODEV));
        assert_eq!(buf.vmap()?.read(100, &mut [0u8; 1]), Ok(()));

        // Attaching again brings the same node back.
        heap.set_backend(backend)?;
        assert_eq!(page()?.size(), PAGE_SIZE);
        Ok(())
    }
}
