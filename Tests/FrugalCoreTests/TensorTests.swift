import FrugalCore
import Testing

@Suite struct TensorTests {
    @Test func copyOnWrite() throws {
        var a = try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4] as [Float])
        let b = a
        #expect(a.sharesStorage(with: b))
        a[floatAt: 0] = 10
        #expect(!a.sharesStorage(with: b))
        #expect(b.scalars(as: Float.self) == [1, 2, 3, 4])
        #expect(a.scalars(as: Float.self) == [10, 2, 3, 4])
        // A unique tensor is mutated in place.
        var c = try Tensor(zeros: [3])
        let before = c.withUnsafeRawBytes { $0.baseAddress }
        c[floatAt: 1] = 1
        #expect(c.withUnsafeRawBytes { $0.baseAddress } == before)
    }

    @Test func everyDTypeRoundTrips() throws {
        #expect(try Tensor(shape: [2], scalars: [Int8(-128), 127]).dtype == .int8)
        #expect(try Tensor(shape: [1], scalars: [UInt8(255)]).dtype == .uint8)
        #expect(try Tensor(shape: [1], scalars: [Int32.min]).dtype == .int32)
        #expect(try Tensor(shape: [1], scalars: [Int64.max]).scalars(as: Int64.self) == [Int64.max])
        #expect(try Tensor(shape: [2], scalars: [true, false]).floatScalars() == [1, 0])
        #expect(try Tensor(shape: [1], scalars: [Half(1.5)]).floatScalars() == [1.5])
        #expect(Tensor(scalar: Float(2)).shape == [])
    }

    @Test func halfConversionMatchesIEEE() {
        // Values and their binary16 bit patterns.
        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3C00), (-2, 0xC000), (65504, 0x7BFF),
            (65520, 0x7C00),  // rounds up to infinity
            (Float.infinity, 0x7C00), (5.960464477539063e-8, 0x0001),  // smallest subnormal
            (6.103515625e-5, 0x0400),  // smallest normal
            (1.0009765625, 0x3C01), (1.00048828125, 0x3C00),  // tie rounds to even
        ]
        for (f, bits) in cases {
            #expect(Half(f).bitPattern == bits, "\(f)")
        }
        for bits in stride(from: 0, through: 0xFFFF, by: 7) where (bits & 0x7C00) != 0x7C00 {
            let h = Half(bitPattern: UInt16(bits))
            #expect(Half(h.floatValue).bitPattern == h.bitPattern)
        }
        #expect(Half(Float.nan).floatValue.isNaN)
    }

    @Test func badShapesAreErrors() {
        #expect(throws: CoreError.self) { try Tensor(zeros: [2, -1]) }
        #expect(throws: CoreError.self) { try Tensor(shape: [2, 3], scalars: [1, 2] as [Float]) }
        #expect(throws: CoreError.self) { try Tensor(zeros: [1, 1]).reshaped([2]) }
    }

    @Test func absurdSizesAreRefusedBeforeAllocating() throws {
        // 2^40 float32 elements (4 TiB) and an overflowing shape.
        do {
            _ = try Tensor(zeros: [1 << 20, 1 << 20])
            Issue.record("allocated 4 TiB")
        } catch let e as CoreError {
            guard case .tooLarge(let m) = e else { Issue.record("wrong error \(e)"); return }
            #expect(m.contains("refusing before allocating"))
        }
        #expect(throws: CoreError.self) { try Tensor(zeros: [Int.max, 2]) }
        #expect(throws: CoreError.self) { try Tensor(zeros: [Int.max / 2], dtype: .int64) }
    }

    @Test func emptyTensors() throws {
        let t = try Tensor(zeros: [0, 5])
        #expect(t.elementCount == 0)
        #expect(t.scalars(as: Float.self).isEmpty)
        #expect(try t.reshaped([5, 0]).shape == [5, 0])
    }

    @Test func broadcasting() throws {
        #expect(try Shape.broadcast([2, 1, 4], [3, 1]) == [2, 3, 4])
        #expect(try Shape.broadcast([], [3]) == [3])
        #expect(try Shape.broadcast([0, 1], [1, 7]) == [0, 7])
        #expect(try Shape.broadcast([[5], [1, 5], [2, 1, 1]]) == [2, 1, 5])
        #expect(throws: CoreError.self) { try Shape.broadcast([2, 3], [4, 3]) }
        #expect(Shape([3, 1]).broadcastStrides(to: [2, 3, 4]) == [0, 1, 0])
    }
}

@Suite struct TensorBufferPoolTests {
    @Test func recyclesOnlyUnsharedBuffers() throws {
        let pool = TensorBufferPool()
        var a: Tensor? = try Tensor(shape: [4], scalars: [1, 2, 3, 4] as [Float])
        let view = try a!.reshaped([2, 2])  // shares a's buffer
        pool.recycle(&a)
        #expect(a == nil && pool.bytesHeld == 0, "a shared buffer must not be taken")
        #expect(view.scalars(as: Float.self) == [1, 2, 3, 4])
        var b: Tensor? = try Tensor(shape: [4], scalars: [5, 6, 7, 8] as [Float])
        pool.recycle(&b)
        #expect(pool.bytesHeld == 16)
        // Same byte size: reused (contents unspecified); zeroed on request.
        let z = try pool.zeroedTensor([2, 2])
        #expect(z.scalars(as: Float.self) == [0, 0, 0, 0] && pool.bytesHeld == 0)
        let u = try pool.uninitializedTensor([3], dtype: .float32)
        #expect(u.shape == [3] && u.elementCount == 3)
        expectCoreError("invalidShape") { _ = try pool.uninitializedTensor(Shape([-1])) }
    }

    @Test func reusesSmallBuffersOldestFirstAndLargeOnesNewestFirst() throws {
        func address(_ t: Tensor) -> UInt { t.withUnsafeRawBytes { UInt(bitPattern: $0.baseAddress) } }
        let pool = TensorBufferPool()
        // 4 floats: small. 256K floats (1 MiB): large.
        for count in [4, 1 << 18] {
            var first: Tensor? = try Tensor(zeros: [count]), second: Tensor? = try Tensor(zeros: [count])
            let (a1, a2) = (address(first!), address(second!))
            pool.recycle(&first)
            pool.recycle(&second)
            let taken = try pool.uninitializedTensor([count])
            #expect(address(taken) == (count == 4 ? a1 : a2), "count \(count)")
            pool.removeAll()
        }
    }

    @Test func keepsAtMostItsCountPerSize() throws {
        let pool = TensorBufferPool(maximumPerSize: 3)
        for _ in 0..<10 {
            var t: Tensor? = try Tensor(zeros: [8])
            pool.recycle(&t)
        }
        var other: Tensor? = try Tensor(zeros: [4])
        pool.recycle(&other)
        #expect(pool.buffersHeld == 4 && pool.bytesHeld == 3 * 32 + 16)
        _ = try pool.uninitializedTensor([8])
        #expect(pool.buffersHeld == 3 && pool.bytesHeld == 2 * 32 + 16)
    }

    @Test func respectsItsLimit() throws {
        let pool = TensorBufferPool(limitBytes: 20)
        var a: Tensor? = try Tensor(zeros: [4])
        var b: Tensor? = try Tensor(zeros: [4])
        pool.recycle(&a)
        pool.recycle(&b)
        #expect(pool.bytesHeld == 16)
        pool.removeAll()
        #expect(pool.bytesHeld == 0)
    }
}
