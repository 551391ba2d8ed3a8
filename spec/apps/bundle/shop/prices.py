from .tax import with_tax


def total(items):
    return with_tax(sum(items))
