RATE = 0.5


def with_tax(n):
    return n + n * RATE
