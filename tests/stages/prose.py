"""English prose shared by the rule tests: real-looking paragraphs that pass every rule."""

import polars as pl

P1 = (
    "Most vegetables grow best in a spot that gets at least six hours of direct sun each day. "
    "Before you plant anything, take a week to watch how the light moves across your yard, and "
    "note which corners stay wet after a heavy rain. Good soil matters more than any fertilizer "
    "you can buy, so mix in a few inches of compost and turn it over with a fork. Raised beds warm "
    "up faster in the spring and drain well, which is why many new gardeners start with one or two "
    "of them."
)
P2 = (
    "The town was founded in 1847 by a small group of families who had traveled west along the "
    "river in search of cheap farmland. Within twenty years it had a mill, two churches and a "
    "school that served children from the surrounding valleys. The railway arrived in 1889 and "
    "changed everything: grain could now be shipped to the city in a single day, and the "
    "population doubled before the end of the century. Many of the brick buildings on Main Street "
    "date from that period and are still in use today."
)
P3 = (
    "To make a simple tomato sauce, warm a generous splash of olive oil in a heavy pan and add two "
    "cloves of sliced garlic. Let the garlic sizzle gently until it smells sweet, but take care "
    "that it does not brown. Pour in a can of whole tomatoes, crush them with the back of a spoon, "
    "and season with salt and a pinch of sugar. After twenty minutes of slow simmering the sauce "
    "will thicken and turn glossy, ready to be tossed with pasta or spread on a pizza base."
)
SCHEMA = {"id": pl.String, "text": pl.String, "lang": pl.String}
