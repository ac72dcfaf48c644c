import XCTest
@testable import CamkitCore

/// Every tile case of the golden fixtures: grid, packing, blend, thumbnails, statistics (the
/// Kotlin core's FullResolutionTest, case by case).
final class FullResolutionTests: XCTestCase {
    private let variants = [("nchw", "float32"), ("nhwc", "float32"), ("nchw", "uint8"), ("nhwc", "uint8")]

    private func plan(_ fixtureCase: String) throws -> FullResolutionPlan {
        try FullResolutionPlan.parse(json: Fixtures.data("\(fixtureCase)/plan.json"), where: "\(fixtureCase)/plan.json")
    }

    func testGrid() throws {
        for fixtureCase in try Fixtures.cases() {
            let tiles = try XCTUnwrap(plan(fixtureCase).tiles)
            let grid = try Fixtures.json("\(fixtureCase)/grid.json")
            let size = try XCTUnwrap(grid["size"] as? [Int])
            let (ph, pw) = Tiling.paddedSize(size[0], size[1], tiles)
            XCTAssertEqual(grid["padded"] as? [Int], [ph, pw], fixtureCase)
            let want = try XCTUnwrap(grid["tiles"] as? [[String: Any]]).map { t -> TileOrigin in
                let ry = t["ramp_y"] as! [String: Bool]
                let rx = t["ramp_x"] as! [String: Bool]
                return TileOrigin(top: t["top"] as! Int, left: t["left"] as! Int, leadY: ry["lead"]!, trailY: ry["trail"]!,
                                  leadX: rx["lead"]!, trailX: rx["trail"]!)
            }
            XCTAssertEqual(try Tiling.grid(size[0], size[1], tiles), want, fixtureCase)
        }
    }

    func testPackingAndBlend() async throws {
        for fixtureCase in try Fixtures.cases() {
            for (layout, dtype) in variants { try await runCase(fixtureCase, layout, dtype) }
        }
    }

    /// The case through FullResolution with a runner that checks every packed input against
    /// the fixture and replays the recorded outputs; the blend against blended_f32 / .png.
    private func runCase(_ fixtureCase: String, _ layout: String, _ dtype: String) async throws {
        let plan = try self.plan(fixtureCase)
        let tiles = try Fixtures.npz("\(fixtureCase)/tiles.npz")
        let photo = try Fixtures.png("\(fixtureCase)/photo.png")
        let tilePlan = try XCTUnwrap(plan.tiles)
        var inputs = [Fixtures.io("image", layout, tilePlan.tileH, tilePlan.tileW, dtype: dtype)]
        for t in plan.thumbnails { inputs.append(Fixtures.io(t.input, layout, t.height, t.width, role: "thumbnail", of: t.of)) }
        if plan.statistics != nil {
            inputs.append(Fixtures.io("image_statistics", layout, 1, 1, role: "statistics", of: "image", range: nil))
        }
        let output = Fixtures.io("output", layout, tilePlan.tileH, tilePlan.tileW)
        let tag = "in_\(layout)_\(dtype == "uint8" ? "u8" : "f32")"
        let what = "\(fixtureCase) \(layout) \(dtype)"
        let runner = ReplayRunner(check: { i, feeds in
            Fixtures.assertTensorEquals(try Fixtures.tensor(tiles, "\(tag)/\(i)"), feeds["image"], "\(what) tile \(i)")
            if !plan.thumbnails.isEmpty {
                let want = try Fixtures.tensor(tiles, "thumb_\(layout)_f32")
                let got = try XCTUnwrap(feeds["image_thumbnail"])
                XCTAssertEqual(want.shape, got.shape, "\(what) thumbnail shape")
                XCTAssertLessThan(Fixtures.maxAbs(want.floats!, got.floats!), 1e-6, "\(what) thumbnail")
            }
            if plan.statistics != nil {
                let want = try Fixtures.tensor(tiles, "statistics_nhwc_f32").floats!
                let got = try XCTUnwrap(feeds["image_statistics"])
                XCTAssertEqual(got.shape, layout == "nchw" ? [1, 3, 1, 1] : [1, 1, 1, 3], "\(what) statistics shape")
                for c in want.indices {
                    XCTAssertEqual(Double(want[c]), Double(got.floats![c]), accuracy: 1e-6 * max(1, abs(Double(want[c]))),
                                   "\(what) statistics")
                }
            }
        }, reply: { i in try ["output": Fixtures.toLayout(Fixtures.tensor(tiles, "out_nhwc_f32/\(i)"), layout)] })
        let features = plan.statistics == nil ? nil : featuresRunner(fixtureCase, tiles)
        let fr = try FullResolution(plan: plan, inputs: inputs, outputs: [output])
        var blended = [Float](repeating: 0, count: photo.height * photo.width * 3)
        var next = 0
        try await fr.processRows(photo, runner: runner, features: features) { y, row in
            XCTAssertEqual(y, next, "\(what): rows come in order")
            next += 1
            for (k, v) in row.enumerated() { blended[y * photo.width * 3 + k] = v }
        }
        XCTAssertEqual(next, photo.height, what)
        XCTAssertEqual(runner.calls, (try Fixtures.json("\(fixtureCase)/grid.json")["tiles"] as? [Any])?.count, what)
        let want = try Fixtures.npy("\(fixtureCase)/blended_f32.npy")
        XCTAssertEqual(want.shape, [photo.height, photo.width, 3], what)
        XCTAssertLessThan(Fixtures.maxAbs(want.floats!, blended), 1e-5, "\(what): blend")
        let png = try Fixtures.png("\(fixtureCase)/blended.png")
        let replay = ReplayRunner(reply: { i in try ["output": Fixtures.toLayout(Fixtures.tensor(tiles, "out_nhwc_f32/\(i)"), layout)] })
        let image = try await fr.process(photo, runner: replay,
                                         features: plan.statistics == nil ? nil : featuresRunner(fixtureCase, tiles))
        var worst = 0
        for p in 0..<png.width * png.height {
            for c in 0..<3 { worst = max(worst, abs(Int(png.rgba[p * 4 + c]) - Int(image.rgba[p * 4 + c]))) }
        }
        XCTAssertLessThanOrEqual(worst, 1, "\(what): blended.png")
    }

    /// The statistics pass's runner: checks each zero-padded tile, replays its features.
    private func featuresRunner(_ fixtureCase: String, _ tiles: [String: Tensor]) -> ReplayRunner {
        ReplayRunner(check: { j, feeds in
            Fixtures.assertTensorEquals(try Fixtures.tensor(tiles, "stats_in_nhwc_f32/\(j)"), feeds["image"], "\(fixtureCase) stats tile \(j)")
        }, reply: { j in try ["features": Fixtures.tensor(tiles, "stats_features_nhwc_f32/\(j)")] })
    }

    func testStatisticsTiles() async throws {
        var seen = 0
        for fixtureCase in try Fixtures.cases() {
            guard try Fixtures.exists("\(fixtureCase)/stats.json") else { continue }
            seen += 1
            let entry = try XCTUnwrap(plan(fixtureCase).statistics)
            let photo = try Fixtures.png("\(fixtureCase)/photo.png")
            let want = try XCTUnwrap(Fixtures.json("\(fixtureCase)/stats.json")["tiles"] as? [[String: Any]]).map { t -> StatisticsTile in
                let r = t["rows"] as! [Int]
                let c = t["cols"] as! [Int]
                return StatisticsTile(index: t["index"] as! Int, rows: FeatureSpan(origin: t["top"] as! Int, first: r[0], end: r[1]),
                                      cols: FeatureSpan(origin: t["left"] as! Int, first: c[0], end: c[1]))
            }
            XCTAssertEqual(try StatisticsPass.tiles(photo.height, photo.width, entry), want, fixtureCase)
            let tiles = try Fixtures.npz("\(fixtureCase)/tiles.npz")
            let vector = try await StatisticsPass.run(photo, entry, featuresRunner(fixtureCase, tiles))
            let expected = try Fixtures.tensor(tiles, "statistics_nhwc_f32").floats!
            XCTAssertEqual(vector.count, expected.count, fixtureCase)
            for c in expected.indices { XCTAssertEqual(Double(vector[c]), Double(expected[c]), accuracy: 1e-6, fixtureCase) }
        }
        XCTAssertGreaterThan(seen, 0, "the fixtures hold no statistics case")
    }

    func testThumbnails() throws {
        var seen = 0
        for fixtureCase in try Fixtures.cases() {
            guard let entry = try plan(fixtureCase).thumbnails.first else { continue }
            seen += 1
            let thumb = try Thumbnails.make(Fixtures.png("\(fixtureCase)/photo.png"), entry)
            let want = try Fixtures.tensor(Fixtures.npz("\(fixtureCase)/tiles.npz"), "thumb_nhwc_f32")
            XCTAssertEqual(want.shape, [1, thumb.height, thumb.width, 3], fixtureCase)
            XCTAssertLessThan(Fixtures.maxAbs(want.floats!, thumb.data), 1e-6, fixtureCase)
        }
        XCTAssertGreaterThan(seen, 0, "the fixtures hold no thumbnail case")
    }

    func testAdaptiveAverageOfASmallPhoto() throws {
        // a 3x2 photo to a 2x1 thumbnail: rows {0,1}, {1,2}; columns {0,1}
        let red: [UInt8] = [0, 30, 60, 90, 120, 150]
        let photo = try Image(width: 2, height: 3, rgba: red.flatMap { [$0, 0, 0, 255] })
        let t = try Thumbnails.adaptiveAverage(photo, 2, 1)
        XCTAssertEqual(Double(t.data[0]), (0 + 30 + 60 + 90) / 4.0 / 255, accuracy: 1e-6)
        XCTAssertEqual(Double(t.data[3]), (60 + 90 + 120 + 150) / 4.0 / 255, accuracy: 1e-6)
        // a photo smaller than a mosaic thumbnail gets the adaptive average
        XCTAssertEqual(try Thumbnails.mosaic(photo, 4, 4, cells: 2).data, try Thumbnails.adaptiveAverage(photo, 4, 4).data)
    }

    func testRefusesWhatTheAppCannotRun() throws {
        let io = [Fixtures.io("image", "nchw", 64, 96)]
        XCTAssertThrowsError(try FullResolution(plan: FullResolutionPlan(version: 2, strategy: "tiles"), inputs: io, outputs: io)) {
            XCTAssertTrue(($0 as? CamkitError)?.message.contains("version 2") == true, "\($0)")
        }
        let tiles = FullResolutionPlan(version: 1, strategy: "tiles", tiles: try TilePlan(tileH: 64, tileW: 96, margin: 6, blend: 8, align: 4))
        let mask = [Fixtures.io("image", "nchw", 64, 96), Fixtures.io("mask", "nchw", 64, 96, c: 1, role: "mask")]
        XCTAssertThrowsError(try FullResolution(plan: tiles, inputs: mask, outputs: io)) {
            XCTAssertTrue(($0 as? CamkitError)?.message.contains("mask") == true, "\($0)")
        }
        XCTAssertThrowsError(try TilePlan(tileH: 16, tileW: 16, margin: 4, blend: 8))
    }

    func testWholeAndResizeStrategies() async throws {
        let photo = try Fixtures.png("small_40x50/photo.png")
        // whole: a dynamic artifact; the photo reflected up to a multiple of 8, cropped back
        let dyn = TensorIo(name: "image", shape: [1, 3, -1, -1], dtype: "float32", quantization: nil, layout: "nchw",
                           valueRange: [0.0, 1.0], colorSpace: "srgb", role: "image", of: nil)
        let echo = ReplayRunner(check: { _, feeds in XCTAssertEqual(feeds["image"]?.shape, [1, 3, 40, 56]) },
                                reply: { _ in [:] })
        let whole = try FullResolution(plan: FullResolutionPlan(version: 1, strategy: "whole", sizeMultiple: 8),
                                       inputs: [dyn], outputs: [dyn])
        let echoing = EchoRunner(inner: echo)
        let out = try await whole.process(photo, runner: echoing)
        XCTAssertEqual(out.rgba, photo.rgba)
        // resize: area down to 20x25 and bicubic back; a constant photo stays constant
        let grey = try Image(width: 50, height: 40, rgba: [UInt8](repeating: 0x80, count: 2000 * 4).enumerated().map { $0.offset % 4 == 3 ? 255 : $0.element })
        let small = Fixtures.io("image", "nhwc", 20, 25)
        let resized = try await FullResolution(plan: FullResolutionPlan(version: 1, strategy: "resize", resizeTo: [20, 25]),
                                               inputs: [small], outputs: [small])
            .process(grey, runner: EchoRunner(inner: nil))
        XCTAssertEqual(resized.rgba, grey.rgba)
    }
}

/// Returns its "image" input as its "image" output (after `inner`'s checks, when given).
final class EchoRunner: ModelRunner {
    private let inner: ReplayRunner?
    let delegation = Delegation.unknown
    let runtimeVersion: String? = nil

    init(inner: ReplayRunner?) { self.inner = inner }

    func run(_ inputs: [String: Tensor]) async throws -> [String: Tensor] {
        if let inner { _ = try await inner.run(inputs) }
        return try ["image": XCTUnwrap(inputs["image"])]
    }
}
