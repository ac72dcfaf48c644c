import XCTest
@testable import CamkitCore

/// The non-square photo packed every way and back (fixtures `packing/`; the Kotlin core's
/// PackingTest).
final class PackingTests: XCTestCase {
    private func cases() throws -> [String: Any] { try Fixtures.json("packing/cases.json") }
    private func tensors() throws -> [String: Tensor] { try Fixtures.npz("packing/tensors.npz") }
    private func photo() throws -> Image { try Fixtures.png("packing/photo.png") }

    /// The fixture's H x W x 3 uint8 photo as opaque RGBA bytes.
    private func expectedRgba(_ key: String) throws -> [UInt8] {
        let t = try Fixtures.tensor(tensors(), key)
        let b = t.bytes!
        var out: [UInt8] = []
        for p in 0..<t.shape[0] * t.shape[1] { out += [b[3 * p], b[3 * p + 1], b[3 * p + 2], 255] }
        return out
    }

    func testPackEveryWay() throws {
        let list = try XCTUnwrap(cases()["cases"] as? [[String: Any]])
        XCTAssertEqual(list.count, 6)
        for c in list {
            let name = c["name"] as! String
            let io = try Fixtures.tensorIo(c["io"]!, where: "cases.json")
            let packedKey = c["packed"] as! String
            let packed = try Packing.pack(photo(), io)
            Fixtures.assertTensorEquals(try Fixtures.tensor(tensors(), packedKey), packed, name)
            let want = try expectedRgba(c["unpacked"] as! String)
            XCTAssertEqual(try Packing.unpack(packed, io).rgba, want, "\(name): unpack(pack(photo))")
            XCTAssertEqual(try Packing.unpack(Fixtures.tensor(tensors(), packedKey), io).rgba, want, "\(name): unpack(fixture)")
        }
    }

    func testUnpackClampsAndRounds() throws {
        let list = try XCTUnwrap(cases()["unpack_only"] as? [[String: Any]])
        XCTAssertEqual(list.count, 2)
        for c in list {
            let io = try Fixtures.tensorIo(c["io"]!, where: "cases.json")
            let got = try Packing.unpack(Fixtures.tensor(tensors(), c["packed"] as! String), io)
            XCTAssertEqual(got.rgba, try expectedRgba(c["unpacked"] as! String), c["name"] as! String)
        }
    }

    func testPhotoIsNotSquareAndPacksRowMajor() throws {
        XCTAssertEqual(try cases()["size"] as? [Int], [9, 14])
        let photo = try photo()
        XCTAssertEqual(photo.width, 14)
        let t = try Packing.pack(photo, Fixtures.io("image", "nchw", 9, 14))
        // NCHW: channel 1 (green) of pixel (y=2, x=5)
        XCTAssertEqual(t.floats![1 * 9 * 14 + 2 * 14 + 5], Float(photo.channel(2, 5, 1)) / 255)
    }

    func testQuantizationIsRoundHalfEvenAndClamps() {
        let q = Quantization(scale: 0.5, zeroPoint: 3)
        XCTAssertEqual(Packing.quantize(1.25, q), 3 + 2)  // 2.5 -> 2 (half to even)
        XCTAssertEqual(Packing.quantize(1.75, q), 3 + 4)  // 3.5 -> 4
        XCTAssertEqual(Packing.quantize(1000, q), 255)
        XCTAssertEqual(Packing.quantize(-10, q), 0)
        XCTAssertEqual(Packing.quantize(.nan, q), 0)
        XCTAssertEqual(Packing.toByte(.nan), 0)
        XCTAssertTrue(Quantization(scale: 1.0 / 255, zeroPoint: 0).isPixelBytes)
    }

    func testRefusesWhatDoesNotFit() throws {
        let photo = try photo()
        XCTAssertThrowsError(try Packing.pack(photo, Fixtures.io("image", "nhwc", 10, 14))) {
            XCTAssertTrue(($0 as? CamkitError)?.message.contains("10x14x3") == true, "\($0)")
        }
        XCTAssertThrowsError(try Packing.pack(photo, Fixtures.io("image", "nhwc", 9, 14, range: [-1.0, 1.0]))) {
            XCTAssertTrue(($0 as? CamkitError)?.message.contains("[-1.0, 1.0]") == true, "\($0)")
        }
    }

    func testGrayChannel() throws {
        let photo = try photo()
        let io = Fixtures.io("mask", "nchw", 9, 14, c: 1)
        let t = try Packing.pack(photo, io)
        XCTAssertEqual(t.shape, [1, 1, 9, 14])
        let back = try Packing.unpack(t, io)
        let r = UInt8(photo.channel(4, 4, 0))
        XCTAssertEqual(Array(back.rgba[(4 * 14 + 4) * 4..<(4 * 14 + 4) * 4 + 4]), [r, r, r, 255])
    }
}
