package dev.camkit.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory

/** Every tile case of the golden fixtures: grid, packing, blend, thumbnails, statistics. */
class FullResolutionTest {
    private val variants = listOf("nchw" to "float32", "nhwc" to "float32", "nchw" to "uint8", "nhwc" to "uint8")

    @TestFactory
    fun grid(): List<DynamicTest> = Fixtures.cases().map { case ->
        DynamicTest.dynamicTest("grid $case") {
            val plan = FullResolutionPlan.parse(Fixtures.file("$case/plan.json").readText()).tiles!!
            val grid = Fixtures.json("$case/grid.json")
            val (h, w) = grid.getAsJsonArray("size").map { it.asInt }
            assertEquals(grid.getAsJsonArray("padded").map { it.asInt }, Tiling.paddedSize(h, w, plan).toList())
            val want = grid.getAsJsonArray("tiles").map { it.asJsonObject }.map {
                val ry = it.getAsJsonObject("ramp_y")
                val rx = it.getAsJsonObject("ramp_x")
                TileOrigin(it.get("top").asInt, it.get("left").asInt, ry.get("lead").asBoolean, ry.get("trail").asBoolean,
                    rx.get("lead").asBoolean, rx.get("trail").asBoolean)
            }
            assertEquals(want, Tiling.grid(h, w, plan))
        }
    }

    @TestFactory
    fun packingAndBlend(): List<DynamicTest> = Fixtures.cases().flatMap { case ->
        variants.map { (layout, dtype) -> DynamicTest.dynamicTest("tiles $case $layout $dtype") { runCase(case, layout, dtype) } }
    }

    /** The case through FullResolution with a runner that checks every packed input against
     * the fixture and replays the recorded outputs; the blend against blended_f32 / .png. */
    private fun runCase(case: String, layout: String, dtype: String) {
        val planText = Fixtures.file("$case/plan.json").readText()
        val plan = FullResolutionPlan.parse(planText)
        val tiles = Fixtures.npz("$case/tiles.npz")
        val photo = Fixtures.png("$case/photo.png")
        val (th, tw) = plan.tiles!!.tileH to plan.tiles!!.tileW
        val inputs = mutableListOf(Fixtures.io("image", layout, th, tw, dtype = dtype))
        plan.thumbnails.forEach { inputs += Fixtures.io(it.input, layout, it.height, it.width, role = "thumbnail", of = it.of) }
        if (plan.statistics != null) inputs += Fixtures.io("image_statistics", layout, 1, 1, role = "statistics", of = "image", range = null)
        val output = Fixtures.io("output", layout, th, tw)
        val tag = "in_${layout}_${if (dtype == "uint8") "u8" else "f32"}"
        val runner = ReplayRunner({ i, feeds ->
            Fixtures.assertTensorEquals(tiles.getValue("$tag/$i"), feeds.getValue("image"), "$case tile $i $tag")
            if (plan.thumbnails.isNotEmpty()) {
                val want = tiles.getValue("thumb_${layout}_f32")
                val got = feeds.getValue("image_thumbnail")
                assertArrayEquals(want.shape, got.shape)
                assertTrue(Fixtures.maxAbs(want.floats!!, got.floats!!) < 1e-6, "thumbnail")
            }
            if (plan.statistics != null) {
                val want = tiles.getValue("statistics_nhwc_f32").floats!!
                val got = feeds.getValue("image_statistics")
                assertArrayEquals(if (layout == "nchw") intArrayOf(1, 3, 1, 1) else intArrayOf(1, 1, 1, 3), got.shape)
                for (c in want.indices) assertEquals(want[c].toDouble(), got.floats!![c].toDouble(), 1e-6 * maxOf(1.0, Math.abs(want[c].toDouble())))
            }
        }, { i -> mapOf("output" to Fixtures.toLayout(tiles.getValue("out_nhwc_f32/$i"), layout)) })
        val features = plan.statistics?.let { featuresRunner(case, tiles) }
        val fr = FullResolution(plan, inputs, listOf(output))
        val blended = FloatArray(photo.height * photo.width * 3)
        var next = 0
        fr.processRows(photo, runner, features) { y, row ->
            assertEquals(next++, y, "rows come in order")
            System.arraycopy(row, 0, blended, y * photo.width * 3, row.size)
        }
        assertEquals(photo.height, next)
        assertEquals(Fixtures.json("$case/grid.json").getAsJsonArray("tiles").size(), runner.calls)
        val want = Fixtures.npy("$case/blended_f32.npy")
        assertArrayEquals(intArrayOf(photo.height, photo.width, 3), want.shape)
        val err = Fixtures.maxAbs(want.floats!!, blended)
        assertTrue(err < 1e-5, "$case: blend differs by $err")
        val png = Fixtures.png("$case/blended.png")
        val image = FullResolution(plan, inputs, listOf(output)).process(photo, ReplayRunner({ _, _ -> }, { i ->
            mapOf("output" to Fixtures.toLayout(tiles.getValue("out_nhwc_f32/$i"), layout))
        }), plan.statistics?.let { featuresRunner(case, tiles) })
        var worst = 0
        for (i in png.argb.indices) for (c in 0 until 3) {
            val shift = 16 - 8 * c
            worst = maxOf(worst, Math.abs(((png.argb[i] shr shift) and 0xFF) - ((image.argb[i] shr shift) and 0xFF)))
        }
        assertTrue(worst <= 1, "$case: blended.png differs by $worst")
    }

    /** The statistics pass's runner: checks each zero-padded tile, replays its features. */
    private fun featuresRunner(case: String, tiles: Map<String, Tensor>) = ReplayRunner({ j, feeds ->
        Fixtures.assertTensorEquals(tiles.getValue("stats_in_nhwc_f32/$j"), feeds.getValue("image"), "$case stats tile $j")
    }, { j -> mapOf("features" to tiles.getValue("stats_features_nhwc_f32/$j")) })

    @TestFactory
    fun statisticsTiles(): List<DynamicTest> = Fixtures.cases().filter { Fixtures.root.resolve("$it/stats.json").exists() }.map { case ->
        DynamicTest.dynamicTest("statistics $case") {
            val entry = FullResolutionPlan.parse(Fixtures.file("$case/plan.json").readText()).statistics!!
            val photo = Fixtures.png("$case/photo.png")
            val want = Fixtures.json("$case/stats.json").getAsJsonArray("tiles").map { it.asJsonObject }.map {
                val r = it.getAsJsonArray("rows").map { v -> v.asInt }
                val c = it.getAsJsonArray("cols").map { v -> v.asInt }
                StatisticsTile(it.get("index").asInt, FeatureSpan(it.get("top").asInt, r[0], r[1]),
                    FeatureSpan(it.get("left").asInt, c[0], c[1]))
            }
            assertEquals(want, StatisticsPass.tiles(photo.height, photo.width, entry))
            val tiles = Fixtures.npz("$case/tiles.npz")
            val vector = StatisticsPass.run(photo, entry, featuresRunner(case, tiles))
            val expected = tiles.getValue("statistics_nhwc_f32").floats!!
            for (c in expected.indices) assertEquals(expected[c].toDouble(), vector[c].toDouble(), 1e-6)
        }
    }

    @TestFactory
    fun thumbnails(): List<DynamicTest> = Fixtures.cases().filter { c ->
        FullResolutionPlan.parse(Fixtures.file("$c/plan.json").readText()).thumbnails.isNotEmpty()
    }.map { case ->
        DynamicTest.dynamicTest("thumbnail $case") {
            val entry = FullResolutionPlan.parse(Fixtures.file("$case/plan.json").readText()).thumbnails.single()
            val thumb = Thumbnails.make(Fixtures.png("$case/photo.png"), entry)
            val want = Fixtures.npz("$case/tiles.npz").getValue("thumb_nhwc_f32")
            assertArrayEquals(intArrayOf(1, thumb.height, thumb.width, 3), want.shape)
            assertTrue(Fixtures.maxAbs(want.floats!!, thumb.data) < 1e-6)
        }
    }

    @Test
    fun adaptiveAverageOfASmallPhoto() {
        // 3x2 photo to a 2x1 thumbnail: rows {0,1}, {1,2}; columns {0,1}
        val px = intArrayOf(0, 30, 60, 90, 120, 150)
        val photo = Image(2, 3, IntArray(6) { (0xFF shl 24) or (px[it] shl 16) })
        val t = Thumbnails.adaptiveAverage(photo, 2, 1)
        assertEquals((0 + 30 + 60 + 90) / 4.0 / 255, t.data[0].toDouble(), 1e-6)
        assertEquals((60 + 90 + 120 + 150) / 4.0 / 255, t.data[3].toDouble(), 1e-6)
        // a photo smaller than a mosaic thumbnail gets the adaptive average
        val mosaic = Thumbnails.mosaic(photo, 4, 4, 2)
        assertArrayEquals(Thumbnails.adaptiveAverage(photo, 4, 4).data, mosaic.data)
    }

    @Test
    fun refusesWhatTheAppCannotRun() {
        val plan = FullResolutionPlan(2, "tiles")
        val io = listOf(Fixtures.io("image", "nchw", 64, 96))
        assertTrue(assertThrows<CamkitException> { FullResolution(plan, io, io) }.message!!.contains("version 2"))
        val tiles = FullResolutionPlan(1, "tiles", TilePlan(64, 96, 6, 8, 4))
        val mask = listOf(Fixtures.io("image", "nchw", 64, 96), Fixtures.io("mask", "nchw", 64, 96, c = 1, role = "mask"))
        assertTrue(assertThrows<CamkitException> { FullResolution(tiles, mask, io) }.message!!.contains("mask"))
        assertThrows<CamkitException> { TilePlan(16, 16, 4, 8) }
    }

    @Test
    fun wholeAndResizeStrategies() {
        val photo = Fixtures.png("small_40x50/photo.png")
        // whole: a dynamic artifact; the photo reflected up to a multiple of 8, cropped back
        val dyn = TensorIo("image", listOf(1, 3, -1, -1), "float32", null, "nchw", listOf(0.0, 1.0), "srgb", "image", null)
        val echo = object : ModelRunner {
            override val delegation = Delegation.UNKNOWN
            override val runtimeVersion: String? = null
            override fun run(inputs: Map<String, Tensor>) = mapOf("image" to inputs.getValue("image").also {
                assertArrayEquals(intArrayOf(1, 3, 40, 56), it.shape)
            })
            override fun close() {}
        }
        val out = FullResolution(FullResolutionPlan(1, "whole", sizeMultiple = 8), listOf(dyn), listOf(dyn)).process(photo, echo)
        assertArrayEquals(photo.argb, out.argb)
        // resize: area down to 20x25 and bicubic back; a constant photo stays constant
        val grey = Image(50, 40, IntArray(2000) { (0xFF shl 24) or (0x80 shl 16) or (0x80 shl 8) or 0x80 })
        val small = Fixtures.io("image", "nhwc", 20, 25)
        val resized = FullResolution(FullResolutionPlan(1, "resize", resizeTo = listOf(20, 25)), listOf(small), listOf(small))
            .process(grey, object : ModelRunner {
                override val delegation = Delegation.UNKNOWN
                override val runtimeVersion: String? = null
                override fun run(inputs: Map<String, Tensor>) = mapOf("image" to inputs.getValue("image"))
                override fun close() {}
            })
        assertArrayEquals(grey.argb, resized.argb)
    }
}
