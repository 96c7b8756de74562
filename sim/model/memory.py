"""Two memory intrinsics for the compiled kernels: a borrowed array, a prefetch.

``borrow`` gives a compiled function an array it may pass to inlined helpers without numba
counting the references: numba increments and decrements an array's reference count
(atomic operations, ten or twenty cycles each) at every such pass, four times per binomial
draw of the platform. The borrowed array has no owner (its ``meminfo`` is null), so the
counting does nothing. Borrow only what a caller holds (an argument): a function's own
array may be freed after its last use while the borrowed copy is still read; and never
return or store a borrowed array.

``prefetch`` asks the processor to load the cache line of an element: learning visits the
observers of a few sellers scattered over the pool, one miss of main memory each, and
fetching those a few sellers ahead lets the misses overlap.

``tests/model/test_memory.py`` checks both.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def borrow(typingctx, array):
    """``array`` without an owner: passing it on counts no references (see the module)."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        borrowed = context.make_array(array)(context, builder, value=args[0])
        borrowed.meminfo = cgutils.get_null_value(borrowed.meminfo.type)
        return borrowed._getvalue()

    return array(array), codegen


@intrinsic
def prefetch(typingctx, array, index):
    """Load the cache line of ``array[index]`` for reading, without waiting for it.

    A hint: it changes no value. ``index`` must be within the array.
    """
    if not (isinstance(array, types.Array) and array.ndim == 1):
        return None
    if not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        arrayty = signature.args[0]
        data = context.make_array(arrayty)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, arrayty, data, [args[1]], wraparound=False, boundscheck=False
        )
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0"
        )
        read, every_level, data = (ir.Constant(i32, flag) for flag in (0, 3, 1))
        builder.call(function, [builder.bitcast(pointer, i8p), read, every_level, data])
        return context.get_dummy_value()

    return types.void(array, index), codegen
